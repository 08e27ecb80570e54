package webhook

import (
	"fmt"
	"unicode/utf8"
)

// Limits on admission warnings. The apiserver drops a warning over 256
// characters and caps them together at 4 KiB; kubectl prints each as a line.
const (
	maxWarningLen    = 256
	maxWarningsTotal = 4096
)

// LimitWarnings truncates each warning to 256 bytes (at a character
// boundary) and keeps the list within 4 KiB, ending it with a count of what
// was left out.
func LimitWarnings(warnings []string) []string {
	var out []string
	total := 0
	for i, w := range warnings {
		if len(w) > maxWarningLen {
			// Cut before the character that straddles the limit, never inside it.
			cut := maxWarningLen - 3
			for cut > 0 && !utf8.RuneStart(w[cut]) {
				cut--
			}
			w = w[:cut] + "..."
		}
		// Keep room for the closing "... N more" line; the last warning needs
		// none, but must still fit.
		last := i == len(warnings)-1
		if (!last && total+len(w) > maxWarningsTotal-64) || total+len(w) > maxWarningsTotal {
			out = append(out, fmt.Sprintf("... and %d more warnings (see the audit annotations)", len(warnings)-i))
			return out
		}
		out = append(out, w)
		total += len(w)
	}
	return out
}
