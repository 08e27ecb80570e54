package webhook_test

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flux-infra/platform-webhook/webhook"
)

// checkLimits checks what the apiserver enforces: each warning at most 256
// bytes, all together at most 4 KiB, all valid UTF-8.
func checkLimits(t *testing.T, warnings []string) {
	t.Helper()
	total := 0
	for i, w := range warnings {
		if len(w) > 256 {
			t.Errorf("warning %d is %d bytes", i, len(w))
		}
		if !utf8.ValidString(w) {
			t.Errorf("warning %d is not valid UTF-8: %q", i, w)
		}
		total += len(w)
	}
	if total > 4096 {
		t.Errorf("warnings total %d bytes", total)
	}
}

func TestLimitWarningsLength(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"short", "[image-rewrite] would rewrite", "[image-rewrite] would rewrite"},
		{"exactly 256", strings.Repeat("a", 256), strings.Repeat("a", 256)},
		{"257", strings.Repeat("a", 257), strings.Repeat("a", 253) + "..."},
		{"300", strings.Repeat("x", 300), strings.Repeat("x", 253) + "..."},
		// 2-byte runes: byte 253 is inside the 127th "é", so the cut is at 252.
		{"two-byte runes", strings.Repeat("é", 200), strings.Repeat("é", 126) + "..."},
		// 3-byte runes: 253 = 3*84 + 1, inside the 85th "€": cut at 252.
		{"three-byte runes", strings.Repeat("€", 100), strings.Repeat("€", 84) + "..."},
		// "a" then 3-byte runes: 253 = 1 + 3*84 is a rune start: cut at 253.
		{"rune boundary at the cut", "a" + strings.Repeat("€", 100), "a" + strings.Repeat("€", 84) + "..."},
		// 4-byte runes: 253 = 4*63 + 1: cut at 252.
		{"four-byte runes", strings.Repeat("😀", 70), strings.Repeat("😀", 63) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := webhook.LimitWarnings([]string{tt.in})
			if !reflect.DeepEqual(got, []string{tt.want}) {
				t.Errorf("LimitWarnings:\n got %q (%d bytes)\nwant %q (%d bytes)", got, len(got[0]), tt.want, len(tt.want))
			}
			checkLimits(t, got)
		})
	}
	if got := webhook.LimitWarnings(nil); got != nil {
		t.Errorf("LimitWarnings(nil) = %q", got)
	}
}

func TestLimitWarningsTotal(t *testing.T) {
	t.Run("100 warnings of 100 bytes", func(t *testing.T) {
		var in []string
		for i := range 100 {
			in = append(in, strings.Repeat(string(rune('a'+i%26)), 100))
		}
		got := webhook.LimitWarnings(in)
		// The budget before the summary line is 4096-64 = 4032 bytes: 40
		// warnings (4000 bytes) fit, the 41st would make 4100. 60 are left out.
		want := append(append([]string{}, in[:40]...), "... and 60 more warnings (see the audit annotations)")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LimitWarnings: got %d warnings, last %q; want 41, last %q", len(got), got[len(got)-1], want[40])
		}
		checkLimits(t, got)
	})
	t.Run("long warnings", func(t *testing.T) {
		in := make([]string, 30)
		for i := range in {
			in[i] = strings.Repeat("é", 300) // 600 bytes, cut to 255
		}
		got := webhook.LimitWarnings(in)
		// 15 of 255 bytes are 3825; a 16th would make 4080 > 4032.
		if len(got) != 16 || got[15] != "... and 15 more warnings (see the audit annotations)" {
			t.Errorf("LimitWarnings: got %d warnings, last %q", len(got), got[len(got)-1])
		}
		checkLimits(t, got)
	})
	t.Run("last warning that does not fit", func(t *testing.T) {
		in := append(repeat(strings.Repeat("b", 256), 15), strings.Repeat("c", 20), strings.Repeat("d", 256))
		got := webhook.LimitWarnings(in)
		// 15*256 + 20 = 3860; the last would make 4116 > 4096.
		want := append(in[:16:16], "... and 1 more warnings (see the audit annotations)")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LimitWarnings: got %d warnings, last %q; want 17, last %q", len(got), got[len(got)-1], want[16])
		}
		checkLimits(t, got)
	})
	t.Run("last warning that fits exactly", func(t *testing.T) {
		in := append(repeat(strings.Repeat("b", 256), 15), strings.Repeat("c", 192), strings.Repeat("d", 64))
		// 15*256 + 192 = 4032, within the budget; + 64 = 4096 exactly.
		got := webhook.LimitWarnings(in)
		if !reflect.DeepEqual(got, in) {
			t.Errorf("LimitWarnings: got %d warnings, want all 17 unchanged", len(got))
		}
		checkLimits(t, got)
	})
	t.Run("few warnings unchanged", func(t *testing.T) {
		in := []string{"[a] one", "[b] two", "[c] three"}
		if got := webhook.LimitWarnings(in); !reflect.DeepEqual(got, in) {
			t.Errorf("LimitWarnings(%q) = %q", in, got)
		}
	})
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
