package webhook

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// Kind is a custom resource kind a look-up reads: watched while its CRD
// exists, from whenever that is.
type Kind struct {
	// CRD is the CustomResourceDefinition's name, <plural>.<group>.
	CRD string
	// Object is an object of the kind (typed, or metadata only), for the cache.
	Object client.Object
	// Set and Remove keep the look-up's index: an object added or updated,
	// an object deleted (or forgotten, when the CRD goes).
	Set, Remove func(obj any)
}

// kindState is where a Kind's informer is.
type kindState int

const (
	kindAbsent   kindState = iota // no CRD, no informer
	kindLoading                   // the CRD is there; the informer has not synced
	kindWatching                  // the informer has synced
)

// KindFollower starts the informers of its Kinds once the apiserver serves
// them and stops them when their CRDs are deleted, so kinds installed after
// the webhook are enforced without a restart (a Flux platform installs CRDs
// in its own order, often after the webhook). It follows the
// CustomResourceDefinitions as metadata only: the name is all it reads; the
// cache's RESTMapper, which rereads discovery for a kind it does not know
// (controller-runtime pkg/client/apiutil mapper.RESTMapping), is the check
// that the apiserver serves the kind.
type KindFollower struct {
	kinds   []Kind
	metrics *Metrics

	mu    sync.Mutex
	state map[string]kindState
	gen   map[string]int // bumped by every CRD add or delete: a stale start gives up
}

// NewKindFollower follows kinds; metrics may be nil.
func NewKindFollower(metrics *Metrics, kinds ...Kind) *KindFollower {
	return &KindFollower{kinds: kinds, metrics: metrics, state: map[string]kindState{}, gen: map[string]int{}}
}

// Loading returns those of crds whose CRD exists but whose informer has not
// synced yet: a denial that depends on them may be wrong.
func (f *KindFollower) Loading(crds ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, crd := range crds {
		if f.state[crd] == kindLoading {
			out = append(out, crd)
		}
	}
	return out
}

// Watch starts the informers of the kinds served now (the server is ready
// once they have synced, as for any look-up) and the CRD informer that
// starts and stops the others later (never part of readiness: a kind
// installed later must not take the webhook out of the Service).
func (f *KindFollower) Watch() Watch {
	return func(ctx context.Context, c cache.Cache) (func() bool, error) {
		log := logf.FromContext(ctx).WithName("kinds")
		var synced []func() bool
		for _, k := range f.kinds {
			reg, err := f.handle(ctx, c, k)
			if meta.IsNoMatchError(err) {
				f.set(k.CRD, kindAbsent)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s informer: %w", k.CRD, err)
			}
			f.set(k.CRD, kindWatching)
			crd := k.CRD
			// A kind whose CRD is deleted later no longer counts.
			synced = append(synced, func() bool { return f.absent(crd) || reg.HasSynced() })
		}
		log.Info("watching kinds", "kinds", f.watching())
		crds := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}}
		inf, err := c.GetInformer(ctx, crds, cache.BlockUntilSynced(false))
		if err != nil {
			return nil, fmt.Errorf("customresourcedefinition informer: %w", err)
		}
		name := func(o any) string {
			if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = tomb.Obj
			}
			if m, ok := o.(metav1.Object); ok {
				return m.GetName()
			}
			return ""
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { f.crdAdded(ctx, c, name(o)) },
			DeleteFunc: func(o any) { f.crdDeleted(ctx, c, name(o)) },
		}); err != nil {
			return nil, err
		}
		return func() bool {
			for _, s := range synced {
				if !s() {
					return false
				}
			}
			return true
		}, nil
	}
}

// handle gets k's informer from the cache and adds k's handlers.
func (f *KindFollower) handle(ctx context.Context, c cache.Cache, k Kind) (toolscache.ResourceEventHandlerRegistration, error) {
	inf, err := c.GetInformer(ctx, k.Object, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, err
	}
	return inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    k.Set,
		UpdateFunc: func(_, o any) { k.Set(o) },
		DeleteFunc: func(o any) {
			if tomb, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = tomb.Obj
			}
			k.Remove(o)
		},
	})
}

func (f *KindFollower) kind(crd string) (Kind, bool) {
	i := slices.IndexFunc(f.kinds, func(k Kind) bool { return k.CRD == crd })
	if i < 0 {
		return Kind{}, false
	}
	return f.kinds[i], true
}

// crdAdded starts the informer of a followed kind whose CRD appeared (the
// CRD informer's first list too: a kind watched already is left alone).
func (f *KindFollower) crdAdded(ctx context.Context, c cache.Cache, crd string) {
	k, ok := f.kind(crd)
	if !ok {
		return
	}
	f.mu.Lock()
	if f.state[crd] != kindAbsent {
		f.mu.Unlock()
		return
	}
	f.state[crd] = kindLoading
	f.gen[crd]++
	gen := f.gen[crd]
	f.mu.Unlock()
	f.metrics.watchedKind(crd, false)
	go f.start(ctx, c, k, gen)
}

// start waits until the apiserver serves the kind (the RESTMapper finds it
// once the CRD is established), starts its informer and, once synced, marks
// it watched. A CRD deleted meanwhile (gen moved on) stops it.
func (f *KindFollower) start(ctx context.Context, c cache.Cache, k Kind, gen int) {
	log := logf.FromContext(ctx).WithName("kinds")
	current := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.gen[k.CRD] == gen
	}
	var reg toolscache.ResourceEventHandlerRegistration
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		var err error
		if reg, err = f.handle(ctx, c, k); err == nil {
			break
		}
		if !meta.IsNoMatchError(err) {
			log.Error(err, "informer of a new kind", "crd", k.CRD)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if !current() {
			return
		}
	}
	for !reg.HasSynced() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		if !current() {
			return
		}
	}
	f.mu.Lock()
	if f.gen[k.CRD] != gen {
		f.mu.Unlock()
		return
	}
	f.state[k.CRD] = kindWatching
	f.mu.Unlock()
	f.metrics.watchedKind(k.CRD, true)
	log.Info("watching a new kind", "crd", k.CRD, "kinds", f.watching())
}

// crdDeleted stops the informer of a followed kind whose CRD was deleted and
// forgets what it had put in the index (the apiserver deletes the objects
// before the CRD, so normally nothing is left).
func (f *KindFollower) crdDeleted(ctx context.Context, c cache.Cache, crd string) {
	k, ok := f.kind(crd)
	if !ok {
		return
	}
	f.mu.Lock()
	was := f.state[crd]
	f.state[crd] = kindAbsent
	f.gen[crd]++
	f.mu.Unlock()
	if was == kindAbsent {
		return
	}
	// The informer exists (GetInformer would otherwise start one).
	if inf, err := c.GetInformer(ctx, k.Object, cache.BlockUntilSynced(false)); err == nil {
		if shared, ok := inf.(toolscache.SharedIndexInformer); ok {
			for _, o := range shared.GetStore().List() {
				k.Remove(o)
			}
		}
	}
	if err := c.RemoveInformer(ctx, k.Object); err != nil {
		logf.FromContext(ctx).WithName("kinds").Error(err, "stop the informer of a deleted kind", "crd", crd)
	}
	f.metrics.watchedKind(crd, false)
	logf.FromContext(ctx).WithName("kinds").Info("stopped watching a deleted kind", "crd", crd, "kinds", f.watching())
}

func (f *KindFollower) set(crd string, s kindState) {
	f.mu.Lock()
	f.state[crd] = s
	f.mu.Unlock()
	f.metrics.watchedKind(crd, s == kindWatching)
}

func (f *KindFollower) absent(crd string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state[crd] == kindAbsent
}

// watching lists the CRDs whose kinds are watched, sorted.
func (f *KindFollower) watching() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for crd, s := range f.state {
		if s == kindWatching {
			out = append(out, crd)
		}
	}
	slices.Sort(out)
	return out
}
