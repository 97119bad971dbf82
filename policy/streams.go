package policy

import (
	"context"
	"sync"
	"time"
)

// sweepInterval is how often held requests are checked for the end of
// their session's time: a stream outlives its session by at most this.
const sweepInterval = 250 * time.Millisecond

// incarnation is one life of an app's anonymous access: from the moment
// it is on at a version until it is turned off, its code reset, it is
// deleted or dropped from the configuration. When it ends, on every
// instance that sees the change, every request of its sessions still in
// flight ends with it.
type incarnation struct {
	mu    sync.Mutex
	held  map[*heldRequest]struct{}
	ended error // why it ended; nil while it stands
}

// heldRequest is a request in flight under one session.
type heldRequest struct {
	cancel context.CancelCauseFunc
	exp    int64 // the session's expiry, Unix seconds
}

func newIncarnation() *incarnation {
	return &incarnation{held: make(map[*heldRequest]struct{})}
}

// end ends the incarnation and every request it holds.
func (inc *incarnation) end(cause error) {
	inc.mu.Lock()
	held := inc.held
	inc.held, inc.ended = nil, cause
	inc.mu.Unlock()
	for h := range held {
		h.cancel(cause)
	}
}

// expire ends the held requests whose session's time is up.
func (inc *incarnation) expire(now int64) {
	inc.mu.Lock()
	defer inc.mu.Unlock()
	for h := range inc.held {
		if now >= h.exp {
			h.cancel(ErrExpired)
			delete(inc.held, h)
		}
	}
}

// adoptIncarnations gives each app of v that is on the incarnation it had
// in prev if its version did not move, a new one otherwise. Called before
// v is in force, so no request ever sees an app of v without one.
func (v *appView) adoptIncarnations(prev *appView) {
	for id, a := range v.apps {
		if !a.rec.AnonymousAccess {
			continue
		}
		if old := prev.apps[id]; old != nil && old.inc != nil && old.rec.Version == a.rec.Version {
			a.inc = old.inc
			continue
		}
		a.inc = newIncarnation()
	}
}

// endIncarnations ends the incarnations of v that next did not adopt.
// Called once next is in force, so a request that still reads v finds its
// incarnation already ended.
func (v *appView) endIncarnations(next *appView) {
	for id, old := range v.apps {
		if old.inc == nil {
			continue
		}
		if a := next.apps[id]; a == nil || a.inc != old.inc {
			old.inc.end(ErrRevoked)
		}
	}
}

// Hold ties a request of a verified session to the session's life, for
// responses that outlive the check made at their start (a WebSocket, an
// event stream, a long download). The context it returns ends when the
// session's app incarnation ends (cause ErrRevoked), within sweepInterval
// of the session's time being up (cause ErrExpired), or with parent;
// release frees it once the request is done. A request costs one
// cancellable context and one entry in its incarnation's set: no timer.
func (t *Tenant) Hold(parent context.Context, v *Verified) (ctx context.Context, release func()) {
	ctx, cancel := context.WithCancelCause(parent)
	app := t.view.Load().current(v.Session)
	if app == nil || app.inc == nil {
		cancel(ErrRevoked)
		return ctx, func() {}
	}
	inc, h := app.inc, &heldRequest{cancel: cancel, exp: v.exp}
	inc.mu.Lock()
	if inc.ended != nil {
		inc.mu.Unlock()
		cancel(inc.ended)
		return ctx, func() {}
	}
	inc.held[h] = struct{}{}
	inc.mu.Unlock()
	return ctx, func() {
		inc.mu.Lock()
		delete(inc.held, h)
		inc.mu.Unlock()
		cancel(context.Canceled)
	}
}

// sweepHeld ends held requests whose session's time is up, every
// sweepInterval until ctx ends.
func (t *Tenant) sweepHeld(ctx context.Context) {
	defer close(t.swept)
	every(ctx, sweepInterval, func() {
		now := t.now().Unix()
		for _, a := range t.view.Load().apps {
			if a.inc != nil {
				a.inc.expire(now)
			}
		}
	})
}
