package policy

import (
	"context"
	"time"
)

// DefaultFeedGrace is how long live sessions keep working while a shared
// store's change feed is down. A turn-off or code reset made on another
// instance meanwhile cannot reach this one, so past this bound live
// sessions are refused too (503) until the feed is back. 30 seconds rides
// out a Redis failover or restart without visitors noticing, and bounds
// how long a revoked session can outlive its revocation on an instance cut
// off from Redis.
const DefaultFeedGrace = 30 * time.Second

// feedCheckInterval is how often the feed's health is looked at.
const feedCheckInterval = 250 * time.Millisecond

// follow keeps the view current from a shared store's change feed, and
// marks the tenant's view as not to be trusted while the feed has been
// down longer than grace. It returns when ctx is done.
func (t *Tenant) follow(ctx context.Context, w Watcher, grace time.Duration) {
	defer close(t.done)
	watching := make(chan struct{})
	defer func() { <-watching }()
	go func() {
		defer close(watching)
		for ctx.Err() == nil {
			// Every change, and every reconnection, rereads the state: a
			// reconnected feed may have missed notices.
			_ = w.Watch(ctx, func() { t.refreshRetrying(ctx) })
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	every(ctx, feedCheckInterval, func() {
		ok, since := w.Healthy()
		t.feedDown.Store(!ok && t.now().Sub(since) > grace)
	})
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}

// refreshRetrying rereads the state after a notice, retrying a failed read
// for a few seconds: giving up early would leave the view stale until the
// next notice.
func (t *Tenant) refreshRetrying(ctx context.Context) {
	for wait := 100 * time.Millisecond; ctx.Err() == nil; wait *= 2 {
		if t.Refresh(ctx) == nil || wait > 5*time.Second {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// notify tells other instances sharing the store that the state changed.
// The change itself is already stored; an instance that misses the notice
// rereads everything when its feed reconnects.
func (t *Tenant) notify(ctx context.Context) error {
	if w, ok := t.store.(Watcher); ok {
		return w.Notify(ctx)
	}
	return nil
}

// FeedConnected reports whether a shared store's change feed is connected
// now; a store of this process alone has no feed and is always current.
func (t *Tenant) FeedConnected() bool {
	if w, ok := t.store.(Watcher); ok {
		up, _ := w.Healthy()
		return up
	}
	return true
}
