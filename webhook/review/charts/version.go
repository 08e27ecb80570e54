package charts

import (
	"fmt"
	"sort"

	"github.com/Masterminds/semver/v3"
	"github.com/fluxcd/pkg/version"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

// Version constraints are resolved as source-controller resolves them
// (github.com/fluxcd/source-controller internal/helm/repository:
// ChartRepository.GetChartVersion for an index, OCIChartRepository's
// GetChartVersion and getLastMatchingVersionOrConstraint for OCI tags),
// with Flux's own loose version parser (github.com/fluxcd/pkg/version
// ParseVersion: three dot-separated parts, an optional leading v). "" and
// "*" are the newest stable version.

// exactVersion is the version itself when a constraint names one version
// (source-controller's OCI shortcut: no tag listing then), else "".
func exactVersion(constraint string) string {
	if _, err := version.ParseVersion(constraint); err == nil {
		return constraint
	}
	return ""
}

// parseConstraint is the constraint a chart.spec.version means.
func parseConstraint(v string) (*semver.Constraints, error) {
	if v == "" {
		v = "*"
	}
	c, err := semver.NewConstraint(v)
	if err != nil {
		return nil, fmt.Errorf("version %q is not a semver version or range: %s", v, err)
	}
	return c, nil
}

// resolveIndex picks a chart version from an HTTP repository's index: an
// exact match of the string first, else the highest version the constraint
// accepts, the later-created first among versions equal but for build
// metadata.
func resolveIndex(index *repo.IndexFile, name, constraint string) (*repo.ChartVersion, error) {
	cvs, ok := index.Entries[name]
	if !ok || len(cvs) == 0 {
		return nil, fmt.Errorf("no chart %q in the repository index", name)
	}
	if constraint != "" {
		for _, cv := range cvs {
			if cv.Version == constraint {
				return cv, nil
			}
		}
	}
	c, err := parseConstraint(constraint)
	if err != nil {
		return nil, err
	}
	type match struct {
		v  *semver.Version
		cv *repo.ChartVersion
	}
	var matched []match
	for _, cv := range cvs {
		v, err := version.ParseVersion(cv.Version)
		if err != nil || !c.Check(v) {
			continue
		}
		matched = append(matched, match{v, cv})
	}
	if len(matched) == 0 {
		return nil, fmt.Errorf("no '%s' chart with version matching '%s' found", name, orStar(constraint))
	}
	sort.SliceStable(matched, func(i, j int) bool {
		if !matched[i].v.Equal(matched[j].v) {
			return matched[j].v.LessThan(matched[i].v)
		}
		return matched[j].cv.Created.Before(matched[i].cv.Created)
	})
	return matched[0].cv, nil
}

// resolveTags picks a version from an OCI repository's tags (as Helm's
// registry client lists them: semver tags only, "_" read as "+"): an exact
// match first, else the highest the constraint accepts.
func resolveTags(tags []string, constraint string) (string, error) {
	for _, t := range tags {
		if constraint != "" && t == constraint {
			return t, nil
		}
	}
	c, err := parseConstraint(constraint)
	if err != nil {
		return "", err
	}
	sorted := version.Sort(c, tags)
	if len(sorted) == 0 {
		return "", fmt.Errorf("could not locate a version matching provided version string %s", orStar(constraint))
	}
	return sorted[0], nil
}

func orStar(v string) string {
	if v == "" {
		return "*"
	}
	return v
}
