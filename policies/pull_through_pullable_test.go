package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
)

// Admitted means pullable: every image of ptcImages goes through
// image-rewrite and image-registry under both rule sets; an admitted pod's
// image must resolve and fetch, with containerd's own resolver (what the
// kubelet's runtime uses), against an ECR stand-in that serves only what a
// rule or a push provides; a denied one must be what the mirror would have
// answered 404 NAME_UNKNOWN for (the image the host-prefix rewrite gave
// before rules were configured, or the image itself when already in the mirror).
func TestPullThroughAdmittedImagesPull(t *testing.T) {
	ctx := context.Background()
	index := randomMultiArchIndex(t)
	digest, err := index.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// The table pins ptcDigest; the stand-ins hold the random index instead.
	seeded := func(image string) string { return strings.ReplaceAll(image, ptcDigest, digest.String()) }

	upstreams := map[string]*httptest.Server{}
	standIn := func(host string) *httptest.Server {
		if s, ok := upstreams[host]; ok {
			return s
		}
		s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		t.Cleanup(s.Close)
		upstreams[host] = s
		return s
	}
	for _, set := range []ImageConfig{ptcHostNamedConfig(), ptcConsoleConfig()} {
		for _, tc := range ptcImages {
			named, err := parseImage(seeded(tc.image))
			if err != nil {
				t.Fatal(err)
			}
			host, path := imageHost(named), reference.Path(named)
			if upstream, ok := set.Aliases[host]; ok {
				host, path = upstream, upstreamPath(named, reference.Domain(named), set)
			}
			if host == ptcR {
				continue // the mirror: pushes are seeded below
			}
			pushIndex(t, standIn(host), path, named, index)
		}
	}

	for _, set := range []struct {
		name string
		cfg  ImageConfig
	}{{"host-named", ptcHostNamedConfig()}, {"console", ptcConsoleConfig()}} {
		ecr := newECRStandIn(t, set.cfg, func(host string) string { return standIn(host).URL })
		pushIndex(t, ecr, "apps/shop/api", mustParse(t, ptcR+"/apps/shop/api:2.14.3"), index)
		resolver := docker.NewResolver(docker.ResolverOptions{Hosts: func(host string) ([]docker.RegistryHost, error) {
			s := ecr
			if host != ptcR {
				s = upstreams[host]
			}
			if s == nil {
				return nil, fmt.Errorf("no stand-in for %s", host)
			}
			u, _ := url.Parse(s.URL)
			return []docker.RegistryHost{{Client: s.Client(), Host: u.Host, Scheme: "http", Path: "/v2",
				Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve}}, nil
		}})
		rewrite, check := NewImageRewrite(set.cfg), NewImageRegistry(set.cfg)
		before := set.cfg
		before.UnlistedRegistries = UnlistedHostPrefix
		before.Prefixes = nil

		for _, tc := range ptcImages {
			t.Run(set.name+"/"+tc.image, func(t *testing.T) {
				image := seeded(tc.image)
				req := Request{Operation: "CREATE", Namespace: "tenant-a"}
				pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}
				rewrite.Mutate(req, pod)
				if violations := check.Validate(req, pod); len(violations) > 0 {
					// Denied: what would have been admitted must be a 404 of the mirror.
					would, _, err := MirrorImage(image, before)
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := resolver.Resolve(ctx, mustParse(t, would).String()); !errdefs.IsNotFound(err) {
						t.Errorf("denied (%s), but %q resolves: err %v", violations[0].Detail, would, err)
					}
					return
				}
				admitted := mustParse(t, pod.Spec.Containers[0].Image)
				pull(t, ctx, resolver, admitted.String())
			})
		}
	}
}

// pull resolves ref as the kubelet's runtime does (by digest when it has
// one), then fetches the index, the linux/amd64 manifest it names and that
// image's config.
func pull(t *testing.T, ctx context.Context, resolver remotes.Resolver, ref string) {
	t.Helper()
	name, desc, err := resolver.Resolve(ctx, ref)
	if err != nil {
		t.Fatalf("admitted, but %q does not resolve: %v", ref, err)
	}
	fetcher, err := resolver.Fetcher(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	fetchJSON(t, ctx, fetcher, desc, &idx)
	for _, m := range idx.Manifests {
		if m.Platform == nil || m.Platform.Architecture != "amd64" {
			continue
		}
		var manifest ocispec.Manifest
		fetchJSON(t, ctx, fetcher, m, &manifest)
		var config map[string]any
		fetchJSON(t, ctx, fetcher, manifest.Config, &config)
		return
	}
	t.Fatalf("%q: no linux/amd64 image in %s", ref, desc.Digest)
}

func fetchJSON(t *testing.T, ctx context.Context, fetcher remotes.Fetcher, desc ocispec.Descriptor, into any) {
	t.Helper()
	rc, err := fetcher.Fetch(ctx, desc)
	if err != nil {
		t.Fatalf("fetch %s: %v", desc.Digest, err)
	}
	defer rc.Close()
	if err := json.NewDecoder(rc).Decode(into); err != nil {
		t.Fatalf("decode %s: %v", desc.Digest, err)
	}
}

// randomMultiArchIndex is an image index of two random images, linux/amd64
// and linux/arm64.
func randomMultiArchIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(512, 2)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return idx
}

// pushIndex pushes index to the registry at s as path, by named's tag (or
// "seed" when it has none: it is then found by its digest).
func pushIndex(t *testing.T, s *httptest.Server, path string, named reference.Named, index v1.ImageIndex) {
	t.Helper()
	tag := "seed"
	if tagged, ok := named.(reference.Tagged); ok {
		tag = tagged.Tag()
	}
	u, _ := url.Parse(s.URL)
	ref, err := name.NewTag(u.Host+"/"+path+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, index, remote.WithTransport(s.Client().Transport)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func mustParse(t *testing.T, image string) reference.Named {
	t.Helper()
	named, err := parseImage(image)
	if err != nil {
		t.Fatal(err)
	}
	return named
}

// newECRStandIn serves the mirror as an ECR pull-through cache does: a
// repository under a rule's prefix is the upstream's repository (ECR creates
// it on the first pull), one under a pushed prefix is what was pushed, and
// any other is 404 NAME_UNKNOWN, which containerd reports as not found (and
// the kubelet as a bare "not found").
func newECRStandIn(t *testing.T, cfg ImageConfig, upstreamURL func(host string) string) *httptest.Server {
	t.Helper()
	pushed := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, rest, ok := splitRegistryPath(r.URL.Path)
		if !ok {
			pushed.ServeHTTP(w, r) // /v2/ and the like
			return
		}
		for _, p := range cfg.Pushed {
			if strings.HasPrefix(repo, strings.TrimSuffix(p, "/")+"/") {
				pushed.ServeHTTP(w, r)
				return
			}
		}
		for host, prefix := range cfg.Prefixes {
			if upstreamRepo, ok := strings.CutPrefix(repo, strings.TrimSuffix(prefix, "/")+"/"); ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
				target := upstreamURL(host) + "/v2/" + upstreamRepo + "/" + rest
				proxy(w, r, target)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{
			"code":    "NAME_UNKNOWN",
			"message": fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '123456789012'", repo),
		}}})
	}))
	t.Cleanup(s.Close)
	return s
}

// splitRegistryPath splits /v2/<repo>/(manifests|blobs|tags)/... into the
// repository and what follows it.
func splitRegistryPath(path string) (repo, rest string, ok bool) {
	p, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", "", false
	}
	for _, kind := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if i := strings.LastIndex(p, kind); i > 0 {
			return p[:i], p[i+1:], true
		}
	}
	return "", "", false
}

// proxy answers r with what target answers.
func proxy(w http.ResponseWriter, r *http.Request, target string) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
