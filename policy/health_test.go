package policy_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// unreachableStore is a store whose reads of live sessions fail while down
// is set, as a Redis store's do when the server is gone; it counts them.
type unreachableStore struct {
	policy.Store
	down  atomic.Bool
	reads atomic.Int32
}

func (s *unreachableStore) Usage(ctx context.Context, now time.Time) (policy.Usage, error) {
	s.reads.Add(1)
	if s.down.Load() {
		return policy.Usage{}, fmt.Errorf("%w: connection refused", policy.ErrStoreUnavailable)
	}
	return s.Store.Usage(ctx, now)
}

func TestCheckStoreEmbedded(t *testing.T) {
	f := newFixture(t, 10)
	f.open1(t)
	rep, err := f.t.CheckStore(context.Background())
	if err != nil {
		t.Fatalf("embedded store: %v", err)
	}
	if rep.Capacity != 10 || rep.Active != 1 || rep.PerApp["market"] != 1 {
		t.Fatalf("report %+v", rep)
	}
	if err := f.t.StoreHealth(context.Background()); err != nil {
		t.Fatalf("embedded store health: %v", err)
	}
}

func TestCheckStoreFeedDown(t *testing.T) {
	f := newFixture(t, 10)
	f.open1(t)
	shared := &sharedStore{Store: f.store, up: true}
	tn, err := policy.NewTenant(policy.TenantOptions{Name: f.name, Store: shared, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	ctx := context.Background()
	if _, err := tn.CheckStore(ctx); err != nil {
		t.Fatalf("feed up: %v", err)
	}
	// The store answers but the feed is down: down, with the usage still
	// reported for the gauges.
	shared.set(false, f.clock.Now())
	rep, err := tn.CheckStore(ctx)
	if !errors.Is(err, policy.ErrStoreUnavailable) {
		t.Fatalf("feed down: got %v, want ErrStoreUnavailable", err)
	}
	if rep.Active != 1 {
		t.Fatalf("feed down: report %+v, want the usage read", rep)
	}
	if err := tn.StoreHealth(ctx); !errors.Is(err, policy.ErrStoreUnavailable) {
		t.Fatalf("health with the feed down: %v", err)
	}
	shared.set(true, time.Time{})
	f.clock.Advance(policy.StoreProbeInterval)
	if err := tn.StoreHealth(ctx); err != nil {
		t.Fatalf("health after the feed is back: %v", err)
	}
}

func TestStoreHealthProbesOncePerInterval(t *testing.T) {
	f := newFixture(t, 10)
	st := &unreachableStore{Store: f.store}
	tn, err := policy.NewTenant(policy.TenantOptions{Name: f.name, Store: st, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	// A caller that hangs up does not decide the shared answer.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tn.StoreHealth(gone); err != nil {
		t.Fatalf("store up: %v", err)
	}
	before := st.reads.Load()
	st.down.Store(true)
	for range 100 {
		if err := tn.StoreHealth(context.Background()); err != nil {
			t.Fatalf("within the interval the last answer holds: %v", err)
		}
	}
	if n := st.reads.Load() - before; n != 0 {
		t.Fatalf("%d store reads within one interval, want none", n)
	}
	f.clock.Advance(policy.StoreProbeInterval)
	if err := tn.StoreHealth(context.Background()); !errors.Is(err, policy.ErrStoreUnavailable) {
		t.Fatalf("store down: got %v, want ErrStoreUnavailable", err)
	}
	if _, err := tn.CheckStore(context.Background()); !errors.Is(err, policy.ErrStoreUnavailable) {
		t.Fatalf("CheckStore with the store down: %v", err)
	}
	st.down.Store(false)
	f.clock.Advance(policy.StoreProbeInterval)
	if err := tn.StoreHealth(context.Background()); err != nil {
		t.Fatalf("store back: %v", err)
	}
}
