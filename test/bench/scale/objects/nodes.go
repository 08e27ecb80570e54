package objects

import (
	"crypto/sha256"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KubeletVersion is what every generated Node runs (an EKS build).
const KubeletVersion = "v1.33.5-eks-3025e55"

// nodeImages are the images a busy EKS node has pulled: the kubelet
// reports up to 50 (--node-status-max-images), each by digest and by tag.
const nodeImages = 40

// Node is Node i as an EKS managed node group's kubelet registers it: the
// labels, annotations, capacity, conditions, addresses and image list of
// a real node (about 10 KB of JSON).
func Node(i int) *corev1.Node {
	ip := fmt.Sprintf("10.%d.%d.%d", 16+i/65536, i/256%256, i%256)
	name := fmt.Sprintf("ip-10-%d-%d-%d.ec2.internal", 16+i/65536, i/256%256, i%256)
	zone := []string{"us-east-1a", "us-east-1b", "us-east-1c"}[i%3]
	instance := fmt.Sprintf("i-0%016x", sha256.Sum256([]byte(name)))[:19]
	labels := map[string]string{
		"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/instance-type": "m6i.2xlarge", "beta.kubernetes.io/os": "linux",
		"eks.amazonaws.com/capacityType": "ON_DEMAND", "eks.amazonaws.com/nodegroup": fmt.Sprintf("workers-%d", i%8),
		"eks.amazonaws.com/nodegroup-image": "ami-0c9b3a1e5d7f2a4b6", "eks.amazonaws.com/sourceLaunchTemplateId": "lt-0a1b2c3d4e5f67890",
		"eks.amazonaws.com/sourceLaunchTemplateVersion": "7", "failure-domain.beta.kubernetes.io/region": "us-east-1",
		"failure-domain.beta.kubernetes.io/zone": zone, "k8s.io/cloud-provider-aws": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
		"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
		"node.kubernetes.io/instance-type": "m6i.2xlarge", "topology.kubernetes.io/region": "us-east-1", "topology.kubernetes.io/zone": zone,
		"topology.k8s.aws/zone-id": "use1-az" + fmt.Sprint(1+i%3),
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, LastHeartbeatTime: now, LastTransitionTime: now, Reason: reason, Message: msg}
	}
	q := resource.MustParse
	capacity := corev1.ResourceList{"cpu": q("8"), "memory": q("32386544Ki"), "pods": q("58"), "ephemeral-storage": q("83873772Ki"),
		"hugepages-1Gi": q("0"), "hugepages-2Mi": q("0")}
	allocatable := corev1.ResourceList{"cpu": q("7910m"), "memory": q("31369712Ki"), "pods": q("58"), "ephemeral-storage": q("76224326324"),
		"hugepages-1Gi": q("0"), "hugepages-2Mi": q("0")}
	var images []corev1.ContainerImage
	for k := range nodeImages {
		repo := fmt.Sprintf("123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/team-%03d/service-%02d", (i+k)%300, k)
		digest := fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprint(repo, i))))
		images = append(images, corev1.ContainerImage{Names: []string{repo + "@sha256:" + digest, repo + ":1." + fmt.Sprint(k%9) + ".3"},
			SizeBytes: int64(20_000_000 + 1_000_003*k)})
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{
			"alpha.kubernetes.io/provided-node-ip":                   ip,
			"csi.volume.kubernetes.io/nodeid":                        fmt.Sprintf(`{"ebs.csi.aws.com":"%s","efs.csi.aws.com":"%s"}`, instance, instance),
			"node.alpha.kubernetes.io/ttl":                           "0",
			"volumes.kubernetes.io/controller-managed-attach-detach": "true",
		}},
		Spec: corev1.NodeSpec{ProviderID: "aws:///" + zone + "/" + instance},
		Status: corev1.NodeStatus{
			Capacity: capacity, Allocatable: allocatable,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
			},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeInternalDNS, Address: name},
				{Type: corev1.NodeHostName, Address: name}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{MachineID: fmt.Sprintf("ec2%029x", i), SystemUUID: fmt.Sprintf("ec2%05x-0000-0000-0000-000000000000", i),
				BootID: fmt.Sprintf("%08x-4b1c-4d2e-9f30-%012x", i, i), KernelVersion: "6.1.141-155.222.amzn2023.x86_64",
				OSImage: "Amazon Linux 2023.8.20250721", ContainerRuntimeVersion: "containerd://1.7.27", KubeletVersion: KubeletVersion,
				KubeProxyVersion: KubeletVersion, OperatingSystem: "linux", Architecture: "amd64"},
			Images: images,
		},
	}
}
