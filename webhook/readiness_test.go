package webhook

import (
	"context"
	"testing"
)

// TestCachesSynced: not ready while any informer has not synced.
func TestCachesSynced(t *testing.T) {
	yes, no := func() bool { return true }, func() bool { return false }
	for _, tt := range []struct {
		name   string
		synced []func() bool
		ready  bool
	}{
		{"namespaces synced, no other informer", []func() bool{yes}, true},
		{"namespaces not synced", []func() bool{no}, false},
		{"namespaces synced, gateways not", []func() bool{yes, no}, false},
		{"all synced", []func() bool{yes, yes}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := cachesSynced(tt.synced)(nil)
			if (err == nil) != tt.ready {
				t.Errorf("check returned %v, want ready %v", err, tt.ready)
			}
			if err != nil && err.Error() != "informer caches not synced" {
				t.Errorf("error %q", err)
			}
		})
	}
	// The check reads the informers each time: ready once they sync.
	synced := false
	check := cachesSynced([]func() bool{yes, func() bool { return synced }})
	if check(nil) == nil {
		t.Fatal("ready before the sync")
	}
	synced = true
	if err := check(nil); err != nil {
		t.Errorf("not ready after the sync: %v", err)
	}
}

// TestNotStopping: readiness fails as soon as Start's context is done,
// before anything else of the shutdown happens.
func TestNotStopping(t *testing.T) {
	s := &Server{}
	if err := s.notStopping(nil); err != nil {
		t.Errorf("before Start: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.ctx.Store(&ctx)
	if err := s.notStopping(nil); err != nil {
		t.Errorf("serving: %v", err)
	}
	cancel()
	if err := s.notStopping(nil); err == nil || err.Error() != "shutting down" {
		t.Errorf("after the context is done: %v, want shutting down", err)
	}
}
