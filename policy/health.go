package policy

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// StoreProbeInterval is how long a StoreHealth answer is reused. A health
// endpoint is open to anyone; with the answer reused, a flood of health
// checks costs the store one read per interval, whatever its rate.
const StoreProbeInterval = time.Second

// storeProbeTimeout bounds one probe: a store that takes longer to answer
// is as good as down to a load balancer.
const storeProbeTimeout = 2 * time.Second

// CheckStore reads the tenant's capacity and live sessions from its store
// and reports whether the store is up: it answered, and a shared store's
// change feed is connected (without the feed, a change made on another
// instance would not reach this one). When the read fails the report is
// empty; when only the feed is down it is filled in and the error is
// ErrStoreUnavailable. The store_up metric and the health endpoint both
// come from here, so a load balancer and an alert never disagree.
func (t *Tenant) CheckStore(ctx context.Context) (CapacityReport, error) {
	rep, err := t.Capacity(ctx)
	if err != nil {
		return CapacityReport{}, err
	}
	if !t.FeedConnected() {
		return rep, fmt.Errorf("%w: change feed disconnected", ErrStoreUnavailable)
	}
	return rep, nil
}

// storeProbe is the last StoreHealth answer.
type storeProbe struct {
	mu  sync.Mutex // held across a probe: callers meanwhile wait for its answer
	at  time.Time
	err error
	ok  bool // a probe was made
}

// StoreHealth reports whether the tenant's store is up, as CheckStore
// does, probing the store at most once per StoreProbeInterval.
func (t *Tenant) StoreHealth(ctx context.Context) error {
	p := &t.probe
	p.mu.Lock()
	defer p.mu.Unlock()
	now := t.now()
	if p.ok && !now.Before(p.at) && now.Sub(p.at) < StoreProbeInterval {
		return p.err
	}
	// The answer is shared with every caller of the interval, so one
	// caller hanging up must not turn it into a failure.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeProbeTimeout)
	defer cancel()
	_, err := t.CheckStore(ctx)
	p.at, p.err, p.ok = now, err, true
	return err
}
