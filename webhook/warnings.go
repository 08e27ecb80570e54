package webhook

import "fmt"

// Limits on admission warnings. The apiserver drops a warning over 256
// characters and caps them together at 4 KiB; kubectl prints each as a line.
const (
	maxWarningLen    = 256
	maxWarningsTotal = 4096
)

// LimitWarnings truncates each warning to 256 characters and keeps the list
// under 4 KiB, ending it with a count of what was left out.
func LimitWarnings(warnings []string) []string {
	var out []string
	total := 0
	for i, w := range warnings {
		if len(w) > maxWarningLen {
			w = w[:maxWarningLen-3] + "..."
		}
		// Keep room for the closing "... N more" line.
		if total+len(w) > maxWarningsTotal-64 && i < len(warnings)-1 {
			out = append(out, fmt.Sprintf("... and %d more warnings (see the audit annotations)", len(warnings)-i))
			return out
		}
		out = append(out, w)
		total += len(w)
	}
	return out
}
