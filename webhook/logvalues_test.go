package webhook

import (
	"bytes"
	"errors"
	"regexp"
	"testing"

	"github.com/go-logr/logr"
	uberzap "go.uber.org/zap"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// withLazyValues writes the lines WithValues writes: the same fields in the
// same order, the same caller, at every level, through WithName and further
// WithValues; and nothing for a line below the level.
func TestLazyValuesWriteTheSameLines(t *testing.T) {
	emit := func(log logr.Logger) {
		log.Info("plain", "policy", "image-rewrite")
		log.V(1).Info("debug only")
		log.Error(errors.New("boom"), "failed", "n", 2)
		log.WithName("sub").WithValues("mode", "audit").Info("nested", "k", "v")
	}
	lines := func(lazy bool) string {
		var buf bytes.Buffer
		base := zap.New(zap.WriteTo(&buf), zap.RawZapOpts(uberzap.AddCaller()))
		kv := []any{"uid", "u-1", "namespace", "tenant-a", "name", "p"}
		log := base.WithValues(kv...)
		if lazy {
			log = withLazyValues(base, kv...)
		}
		emit(log) // one call site: the same stack trace in the error line
		return regexp.MustCompile(`"ts":"[^"]*",`).ReplaceAllString(buf.String(), "")
	}
	want, got := lines(false), lines(true)
	if got != want || !bytes.Contains([]byte(want), []byte(`"uid":"u-1"`)) || !bytes.Contains([]byte(want), []byte(`logvalues_test.go`)) {
		t.Errorf("lazy values wrote\n%s\nWithValues wrote\n%s", got, want)
	}
	if bytes.Contains([]byte(got), []byte("debug only")) {
		t.Errorf("a V(1) line was written at the info level:\n%s", got)
	}
}
