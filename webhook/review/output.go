package review

import (
	"encoding/json"
	"fmt"
	"io"

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
