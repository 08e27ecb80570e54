package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/flux-infra/platform-webhook/policies"
	"github.com/flux-infra/platform-webhook/test/e2e/harness"
	"github.com/flux-infra/platform-webhook/webhook/config"
)

func imageConfig(t *testing.T) policies.ImageConfig {
	t.Helper()
	cfg, err := config.Load(filepath.Join(harness.RepoRoot(), "manifests", "webhook", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Policies.ImageRewrite.ImageConfig
}

// answer is an allowed AdmissionReview answer whose patch sets each image
// of pod to image(old), by list and index.
func answer(t *testing.T, pod []byte, image func(string) string) []byte {
	t.Helper()
	var p corev1.Pod
	if err := json.Unmarshal(pod, &p); err != nil {
		t.Fatal(err)
	}
	var ops []map[string]any
	add := func(list string, cs []corev1.Container) {
		for i, c := range cs {
			if n := image(c.Image); n != c.Image {
				ops = append(ops, map[string]any{"op": "replace", "path": fmt.Sprintf("/spec/%s/%d/image", list, i), "value": n})
			}
		}
	}
	add("initContainers", p.Spec.InitContainers)
	add("containers", p.Spec.Containers)
	patch, _ := json.Marshal(ops)
	b, _ := json.Marshal(map[string]any{"response": map[string]any{"uid": "x", "allowed": true, "patchType": "JSONPatch", "patch": patch}})
	return b
}

// The check run before Kyverno is measured: it passes when both answers
// give MirrorImage's images, and names what differs otherwise.
func TestSameRewrite(t *testing.T) {
	cfg := imageConfig(t)
	mirror := func(image string) string {
		m, _, err := policies.MirrorImage(image, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, c := range podPaths() {
		if !peerCase(c) {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			pod := c.Object()
			good := answer(t, pod, mirror)
			if err := sameRewrite(pod, good, good, cfg); err != nil {
				t.Fatalf("same answers: %v", err)
			}
			// A policy missing a rule (every pod has a ghcr.io image).
			wrong := answer(t, pod, func(image string) string {
				if strings.HasPrefix(image, "ghcr.io/") {
					return image
				}
				return mirror(image)
			})
			if err := sameRewrite(pod, wrong, good, cfg); err == nil || !strings.Contains(err.Error(), "kyverno's images") {
				t.Errorf("ghcr.io left as it is: %v, want kyverno's images named", err)
			}
			if err := sameRewrite(pod, good, answer(t, pod, func(s string) string { return s }), cfg); err == nil || !strings.Contains(err.Error(), "platform-webhook's images") {
				t.Errorf("ours unpatched: %v, want platform-webhook's images named", err)
			}
		})
	}
}

// The policy has one foreach per container list, each patching the image
// at the element's index, and the mirror of every rule and alias.
func TestKyvernoPolicy(t *testing.T) {
	cfg := imageConfig(t)
	u, err := kyvernoPolicy(cfg, cfg.ExcludeNamespaces)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`"docker.io":"123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/"`,
		`"mirror.gcr.io":"123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/"`,
		`"k8s.gcr.io":"123456789012.dkr.ecr.us-east-1.amazonaws.com/registry.k8s.io/"`,
		`"hubs","variable":{"value":["docker.io","mirror.gcr.io"]}`,
		`/spec/containers/{{ elementIndex }}/image`,
		`/spec/initContainers/{{ elementIndex }}/image`,
		`/spec/ephemeralContainers/{{ elementIndex }}/image`,
		`"namespaces":["kube-system"]`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the policy lacks %s:\n%s", want, s)
		}
	}
	cfg.UnlistedRegistries = policies.UnlistedHostPrefix
	if _, err := kyvernoPolicy(cfg, nil); err == nil {
		t.Error("hostPrefix: no error")
	}
}
