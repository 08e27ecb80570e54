package review

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"
)

// WriteJSON prints the entries as one JSON array, in input order.
func WriteJSON(w io.Writer, entries []Entry) error {
	if entries == nil {
		entries = []Entry{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(entries)
}

// WriteYAML prints the objects after mutation as multi-document YAML on out,
// and denials and warnings on diag, each naming the object and its source.
func WriteYAML(out, diag io.Writer, entries []Entry) error {
	for i, e := range entries {
		y, err := sigsyaml.Marshal(e.Object)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(out, "---\n"); err != nil {
				return err
			}
		}
		if _, err := out.Write(y); err != nil {
			return err
		}
		who := fmt.Sprintf("%s %s/%s (%s)", e.Kind, e.Namespace, e.Name, e.Source)
		for _, w := range e.Warnings {
			fmt.Fprintf(diag, "Warning: %s: %s\n", who, w)
		}
		if !e.Allowed {
			fmt.Fprintf(diag, "Denied: %s: %s\n", who, e.Message)
		}
	}
	return nil
}

// WriteGitHub prints GitHub Actions workflow commands: an ::error line per
// denied object, a ::warning line per warning, each on the object's file
// (and line, for a file read as it is), then one summary line.
func WriteGitHub(w io.Writer, entries []Entry) error {
	denied, warned := 0, 0
	for _, e := range entries {
		loc := githubLocation(e.Source)
		if e.At != "" {
			loc = githubLocation(e.At)
		}
		title := githubProperty(fmt.Sprintf("%s %s/%s", e.Kind, e.Namespace, e.Name))
		if !e.Allowed {
			denied++
			if _, err := fmt.Fprintf(w, "::error %stitle=%s::%s\n", loc, title, githubData(e.Message)); err != nil {
				return err
			}
		}
		if len(e.Warnings) > 0 {
			warned++
		}
		for _, m := range e.Warnings {
			if _, err := fmt.Fprintf(w, "::warning %stitle=%s::%s\n", loc, title, githubData(m)); err != nil {
				return err
			}
		}
	}
	_, err := fmt.Fprintf(w, "review: %d objects, %d denied, %d with warnings\n", len(entries), denied, warned)
	return err
}

// githubLocation is "file=F,line=L," for a source "F:L", "file=F," for a
// Flux source "Kustomization NS/NAME: F" or a kustomize folder.
func githubLocation(source string) string {
	switch {
	case strings.HasPrefix(source, "Kustomization "):
		if i := strings.Index(source, ": "); i >= 0 {
			return "file=" + githubProperty(source[i+2:]) + ","
		}
	case strings.HasSuffix(source, " (kustomize build)"):
		return "file=" + githubProperty(strings.TrimSuffix(source, " (kustomize build)")) + ","
	}
	if m := fileLine.FindStringSubmatch(source); m != nil && m[1] != "<stdin>" {
		return "file=" + githubProperty(m[1]) + ",line=" + m[2] + ","
	}
	return ""
}

var fileLine = regexp.MustCompile(`^(.+):(\d+)(?: \(item \d+\))?$`)

// githubData escapes a workflow command's message (GitHub's toolkit:
// escapeData).
func githubData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// githubProperty escapes a workflow command's property (escapeProperty).
func githubProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
