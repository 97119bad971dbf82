package policy

import (
	"context"
	"time"
)

// incarnation is one life of an app's anonymous access: from the moment
// it is on at a version until it is turned off, its code reset, it is
// deleted or dropped from the configuration. Its context ends then, on
// every instance that sees the change, and with it every request of its
// sessions still in flight.
type incarnation struct {
	ctx context.Context
	end context.CancelCauseFunc
}

func newIncarnation() *incarnation {
	ctx, end := context.WithCancelCause(context.Background())
	return &incarnation{ctx: ctx, end: end}
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
// session's time is up (cause ErrExpired) or its app's incarnation ends
// (cause ErrRevoked), or with parent; release frees it once the request
// is done.
func (t *Tenant) Hold(parent context.Context, v *Verified) (ctx context.Context, release func()) {
	app := t.view.Load().current(v.Session)
	if app == nil || app.inc == nil {
		ctx, cancel := context.WithCancelCause(parent)
		cancel(ErrRevoked)
		return ctx, func() {}
	}
	left := time.Unix(v.exp, 0).Sub(t.now())
	timed, cancelTimer := context.WithTimeoutCause(parent, left, ErrExpired)
	ctx, cancel := context.WithCancelCause(timed)
	stop := context.AfterFunc(app.inc.ctx, func() { cancel(ErrRevoked) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
		cancelTimer()
	}
}
