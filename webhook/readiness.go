package webhook

import (
	"errors"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// cachesSynced is the readiness check of the informer caches: the server is
// not ready until every informer has listed what policies look up, so it
// never answers from an empty cache (a namespace's audit label unseen, say).
// Once synced it stays ready while the apiserver is unreachable: answers
// then come from the cache as it was, and an apiserver blip does not take
// every replica out of the Service (the validators fail closed).
func cachesSynced(synced []func() bool) healthz.Checker {
	return func(*http.Request) error {
		for _, ok := range synced {
			if !ok() {
				return errors.New("informer caches not synced")
			}
		}
		return nil
	}
}

// notStopping is the readiness check of shutdown: it fails from the moment
// Start's context is done (SIGTERM), for the whole drain before the manager
// stops the webhook server (see Start).
func (s *Server) notStopping(*http.Request) error {
	if s.stopping() {
		return errors.New("shutting down")
	}
	return nil
}

// stopping reports whether shutdown has begun: Start's context is done.
func (s *Server) stopping() bool {
	ctx := s.ctx.Load()
	return ctx != nil && (*ctx).Err() != nil
}
