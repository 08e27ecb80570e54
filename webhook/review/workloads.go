package review

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// podTemplatePath is where a workload keeps the pod template its controller
// stamps pods from.
var podTemplatePath = map[schema.GroupKind][]string{
	{Group: "apps", Kind: "Deployment"}:  {"spec", "template"},
	{Group: "apps", Kind: "StatefulSet"}: {"spec", "template"},
	{Group: "apps", Kind: "DaemonSet"}:   {"spec", "template"},
	{Group: "apps", Kind: "ReplicaSet"}:  {"spec", "template"},
	{Group: "batch", Kind: "Job"}:        {"spec", "template"},
	{Group: "batch", Kind: "CronJob"}:    {"spec", "jobTemplate", "spec", "template"},
}

// makesJobPods says whether the workload's pods are Job pods.
func makesJobPods(gk schema.GroupKind) bool {
	return gk.Group == "batch"
}
