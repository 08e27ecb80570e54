package charts

import (
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestReleaseName: helm-controller's own cases (internal/release
// name_test.go TestShortName, v1.6.3), through spec.releaseName.
func TestReleaseName(t *testing.T) {
	for name, want := range map[string]string{
		"release-name": "release-name",
		"release-name-with-very-long-name-which-is-longer-than-53-characters":         "release-name-with-very-long-name-which-i-788ca0d0d7b0",
		"another-release-name-with-very-long-name-which-is-longer-than-53-characters": "another-release-name-with-very-long-name-7e72150d5a36",
	} {
		hr := &helmv2.HelmRelease{Spec: helmv2.HelmReleaseSpec{ReleaseName: name}}
		if got := releaseName(hr); got != want {
			t.Errorf("releaseName(%q) = %q, want %q", name, got, want)
		}
	}
	hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: helmv2.HelmReleaseSpec{TargetNamespace: "team-a"}}
	if got := releaseName(hr); got != "team-a-web" {
		t.Errorf("targetNamespace: %q, want team-a-web", got)
	}
}

func index(versions map[string]time.Time) *repo.IndexFile {
	idx := repo.NewIndexFile()
	for v, created := range versions {
		idx.Entries["app"] = append(idx.Entries["app"], &repo.ChartVersion{
			Metadata: &chart.Metadata{Name: "app", Version: v}, Created: created})
	}
	return idx
}

// TestResolveIndex: source-controller's rules (ChartRepository
// GetChartVersion): an exact string first, else the highest the range
// accepts, prereleases only when the range asks, the later-created first
// among versions equal but for build metadata.
func TestResolveIndex(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	idx := index(map[string]time.Time{
		"1.0.0": t0, "1.2.0": t0, "2.0.0": t0, "2.1.0-rc.1": t0, "v3.0.0": t0,
		"1.5.0+b1": t0.Add(time.Hour), "1.5.0+b2": t0,
	})
	for _, tc := range []struct{ constraint, want string }{
		{"", "v3.0.0"},
		{"*", "v3.0.0"},
		{"1.x", "1.5.0+b1"}, // b1 is the later-created of the two 1.5.0s
		{"~1.2", "1.2.0"},
		{">=2.0.0-0 <3.0.0", "2.1.0-rc.1"},
		{"<2.1.0", "2.0.0"},
		{"v3.0.0", "v3.0.0"},
		{"1.0.0", "1.0.0"},
	} {
		cv, err := resolveIndex(idx, "app", tc.constraint)
		if err != nil || cv.Version != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.constraint, cv, err, tc.want)
		}
	}
	if _, err := resolveIndex(idx, "app", "4.x"); err == nil || err.Error() != "no 'app' chart with version matching '4.x' found" {
		t.Errorf("4.x: %v", err)
	}
	if _, err := resolveIndex(idx, "other", ""); err == nil || err.Error() != `no chart "other" in the repository index` {
		t.Errorf("other: %v", err)
	}
}

// TestResolveTags: the OCI rules (getLastMatchingVersionOrConstraint).
func TestResolveTags(t *testing.T) {
	tags := []string{"1.0.0", "0.2.0", "0.1.0", "0.3.0-rc.1"} // as Helm's client lists them
	for _, tc := range []struct{ constraint, want string }{
		{"", "1.0.0"}, {">=0.1.0 <1.0.0", "0.2.0"}, {"0.1.0", "0.1.0"}, {"^0.3.0-0", "0.3.0-rc.1"},
	} {
		if got, err := resolveTags(tags, tc.constraint); err != nil || got != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.constraint, got, err, tc.want)
		}
	}
	if exactVersion("v1.21.2") != "v1.21.2" || exactVersion("1.x") != "" || exactVersion(">=1.0.0") != "" {
		t.Error("exactVersion: v1.21.2 is a version (Flux's loose parser), 1.x and >=1.0.0 are ranges")
	}
}
