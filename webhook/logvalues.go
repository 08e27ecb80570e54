package webhook

import (
	"slices"

	"github.com/go-logr/logr"
)

// withLazyValues returns log with keysAndValues added to every line it
// writes, as log.WithValues does, but added only when a line is written.
//
// zap's WithValues encodes the values into a new encoder at once: about
// 2.3 KB allocated per request (BENCHMARKS.md, issue 26) for the uid,
// namespace and name of a request that, allowed or patched in enforce mode,
// logs nothing at the default level. The lines written are the same.
func withLazyValues(log logr.Logger, keysAndValues ...any) logr.Logger {
	sink := log.GetSink()
	if sink == nil {
		return log
	}
	// One more frame (lazySink's own method) between the caller and the
	// sink, for sinks that report the caller.
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		sink = cd.WithCallDepth(1)
	}
	return log.WithSink(&lazySink{sink: sink, kv: keysAndValues})
}

// lazySink is a logr.LogSink that adds kv to sink when it writes a line.
type lazySink struct {
	sink logr.LogSink
	kv   []any
}

// Init does nothing: sink was initialized by the logger it came from.
func (s *lazySink) Init(logr.RuntimeInfo) {}

func (s *lazySink) Enabled(level int) bool { return s.sink.Enabled(level) }

func (s *lazySink) Info(level int, msg string, keysAndValues ...any) {
	s.sink.WithValues(s.kv...).Info(level, msg, keysAndValues...)
}

func (s *lazySink) Error(err error, msg string, keysAndValues ...any) {
	s.sink.WithValues(s.kv...).Error(err, msg, keysAndValues...)
}

func (s *lazySink) WithValues(keysAndValues ...any) logr.LogSink {
	return &lazySink{sink: s.sink, kv: append(slices.Clip(s.kv), keysAndValues...)}
}

func (s *lazySink) WithName(name string) logr.LogSink {
	return &lazySink{sink: s.sink.WithName(name), kv: s.kv}
}

func (s *lazySink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.sink.(logr.CallDepthLogSink); ok {
		return &lazySink{sink: cd.WithCallDepth(depth), kv: s.kv}
	}
	return s
}
