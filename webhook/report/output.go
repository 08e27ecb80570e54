package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/flux-infra/platform-webhook/policies"
)

// WriteJSON prints the findings as one JSON array.
func WriteJSON(w io.Writer, findings []Finding) error {
	if findings == nil {
		findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(findings)
}

// WriteYAML prints the findings as a YAML list.
func WriteYAML(w io.Writer, findings []Finding) error {
	if findings == nil {
		findings = []Finding{}
	}
	js, err := json.Marshal(findings)
	if err != nil {
		return err
	}
	y, err := sigsyaml.JSONToYAML(js)
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// WriteTable prints, per namespace, a table of its findings (policy,
// object, mode, result, message) and one summary line; modes gives each
// namespace's mode for that line.
func WriteTable(w io.Writer, findings []Finding, namespaces []string, modes map[string]string) error {
	byNS := map[string][]Finding{}
	for _, f := range findings {
		byNS[f.Namespace] = append(byNS[f.Namespace], f)
	}
	for i, ns := range namespaces {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if fs := byNS[ns]; len(fs) > 0 {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POLICY\tOBJECT\tMODE\tRESULT\tMESSAGE")
			for _, f := range fs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Policy, object(f), f.Mode, f.Result, f.Message)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintln(w, Summary(ns, modes[ns], byNS[ns])); err != nil {
			return err
		}
	}
	return nil
}

// object names a finding's object for the table: "Pod/debug",
// "ReplicaSet/api-7d4f of Deployment/api (3 pods)", "StatefulSet/db (2 pods)".
func object(f Finding) string {
	name := f.Kind + "/" + f.Name
	switch {
	case f.Owner == "":
		return name
	case f.Owner == name:
		return fmt.Sprintf("%s (%s)", name, pods(f.Pods))
	}
	return fmt.Sprintf("%s of %s (%s)", name, f.Owner, pods(f.Pods))
}

func pods(n int) string {
	if n == 1 {
		return "1 pod"
	}
	return fmt.Sprintf("%d pods", n)
}

// Summary is a namespace's line, e.g. "tenant-b (audit): under enforce 2
// objects would be denied (image-registry 1, flux-placement 1), 3 pods would
// get their images rewritten at their next restart".
func Summary(ns, mode string, findings []Finding) string {
	denied := map[string]bool{}
	perPolicy := map[string]map[string]bool{}
	rewritten, wrapped := map[string]int{}, map[string]int{}
	warnings := 0
	for _, f := range findings {
		obj := f.Kind + "/" + f.Name
		count := max(f.Pods, 1)
		switch {
		case f.Result == Deny:
			denied[obj] = true
			if perPolicy[f.Policy] == nil {
				perPolicy[f.Policy] = map[string]bool{}
			}
			perPolicy[f.Policy][obj] = true
		case f.Result == Mutate && f.Policy == policies.ImageRewrite:
			rewritten[obj] = count
		case f.Result == Mutate:
			wrapped[obj] = count
		default:
			warnings++
		}
	}
	var parts []string
	if len(denied) > 0 {
		var ps []string
		for p, objs := range perPolicy {
			ps = append(ps, fmt.Sprintf("%s %d", p, len(objs)))
		}
		sort.Slice(ps, func(i, j int) bool { // most first, then by name
			ni, nj := len(perPolicy[strings.Fields(ps[i])[0]]), len(perPolicy[strings.Fields(ps[j])[0]])
			if ni != nj {
				return ni > nj
			}
			return ps[i] < ps[j]
		})
		parts = append(parts, fmt.Sprintf("%s would be denied (%s)", plural(len(denied), "object"), strings.Join(ps, ", ")))
	}
	their := func(n int) string {
		if n == 1 {
			return "its"
		}
		return "their"
	}
	if n := sum(rewritten); n > 0 {
		parts = append(parts, fmt.Sprintf("%s would get %s images rewritten at %s next restart", plural(n, "pod"), their(n), their(n)))
	}
	if n := sum(wrapped); n > 0 {
		parts = append(parts, fmt.Sprintf("%s would be changed by job-proxy at %s next start", plural(n, "Job pod"), their(n)))
	}
	if warnings > 0 {
		parts = append(parts, plural(warnings, "warning"))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%s (%s): nothing would be denied or changed", ns, mode)
	}
	return fmt.Sprintf("%s (%s): under enforce %s", ns, mode, strings.Join(parts, ", "))
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
