package policy_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// sharedStore is the bolt store dressed as a shared one: a change feed the
// test drives by hand. A fake only for this unit test of the tenant's side
// of the feed; the real Redis feed has its own tests against redis-server.
type sharedStore struct {
	policy.Store
	mu        sync.Mutex
	onChange  func()
	up        bool
	downSince time.Time
	notified  atomic.Int32
}

func (s *sharedStore) Watch(ctx context.Context, onChange func()) error {
	s.mu.Lock()
	s.onChange = onChange
	s.mu.Unlock()
	<-ctx.Done()
	return nil
}

func (s *sharedStore) Notify(context.Context) error { s.notified.Add(1); return nil }

func (s *sharedStore) Healthy() (bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up, s.downSince
}

func (s *sharedStore) set(up bool, since time.Time) {
	s.mu.Lock()
	s.up, s.downSince = up, since
	s.mu.Unlock()
}

func (s *sharedStore) change() bool {
	s.mu.Lock()
	f := s.onChange
	s.mu.Unlock()
	if f != nil {
		f()
	}
	return f != nil
}

// eventually polls cond for up to two seconds: the feed is checked on a
// ticker, so its effects show within a few ticks.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 2 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestChangeFeed(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	o := f.open1(t)
	shared := &sharedStore{Store: f.store, up: true}
	tn, err := policy.NewTenant(policy.TenantOptions{Name: f.name, Store: shared, Now: f.clock.Now, FeedGrace: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	if err := tn.Register(ctx, "other instance", f.registration()); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Authorize(o.Token, "GET", "/dash/market.html"); err != nil {
		t.Fatalf("a session from the other instance: %v", err)
	}
	// A change made elsewhere reaches this instance's view on the notice.
	if _, err := f.t.AsOperator("192.0.2.9").SetAnonymousAccess(ctx, "market", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the watch to start", shared.change)
	if _, err := tn.Authorize(o.Token, "GET", "/dash/market.html"); err != policy.ErrRevoked {
		t.Fatalf("after the notice: got %v, want ErrRevoked", err)
	}
	// Changes made here are announced.
	if _, err := tn.AsOperator("192.0.2.9").SetAnonymousAccess(ctx, "market", true); err != nil {
		t.Fatal(err)
	}
	if shared.notified.Load() == 0 {
		t.Fatal("a change was not announced to the other instances")
	}
	link, err := tn.Link("market")
	if err != nil {
		t.Fatal(err)
	}
	_, code, _ := strings.Cut(link, "#code=")
	o2, err := tn.Redeem(ctx, policy.Redemption{App: "market", Code: code})
	if err != nil {
		t.Fatal(err)
	}
	// The feed drops: live sessions go on within the grace period, and are
	// refused past it, until the feed is back.
	shared.set(false, f.clock.Now())
	f.clock.Advance(29 * time.Second)
	if _, err := tn.Authorize(o2.Token, "GET", "/dash/market.html"); err != nil {
		t.Fatalf("within the grace period: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	eventually(t, "fail closed", func() bool {
		_, err := tn.Authorize(o2.Token, "GET", "/dash/market.html")
		return err == policy.ErrStoreUnavailable
	})
	shared.set(true, time.Time{})
	eventually(t, "recovery", func() bool {
		_, err := tn.Authorize(o2.Token, "GET", "/dash/market.html")
		return err == nil
	})
}
