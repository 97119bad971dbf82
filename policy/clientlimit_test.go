package policy_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// newLimitedFixture is a fixture whose clients may hold clientSessions
// live sessions each.
func newLimitedFixture(tb testing.TB, capacity, clientSessions int) *fixture {
	tb.Helper()
	f := newFixture(tb, capacity)
	f.config.ClientSessions = clientSessions
	if err := f.t.Register(context.Background(), f, f.registration()); err != nil {
		tb.Fatal(err)
	}
	return f
}

// redeemFrom opens the market link as client.
func (f *fixture) redeemFrom(tb testing.TB, client string) (policy.Opened, error) {
	tb.Helper()
	return f.t.Redeem(context.Background(), policy.Redemption{App: "market", Code: f.code(tb, "market"), Client: client})
}

// wantClientLimit checks that err is the client limit with a wait of want.
func wantClientLimit(t *testing.T, what string, err error, want time.Duration) {
	t.Helper()
	var cl *policy.RetryError
	if !errors.As(err, &cl) || !errors.Is(err, policy.ErrClientLimit) {
		t.Fatalf("%s: got %v, want the client limit", what, err)
	}
	if cl.RetryAfter != want {
		t.Fatalf("%s: retry after %v, want %v", what, cl.RetryAfter, want)
	}
}

func TestClientSessionsLimitOneClient(t *testing.T) {
	f := newLimitedFixture(t, 100, 3)
	for i := range 3 {
		if _, err := f.redeemFrom(t, "198.51.100.7"); err != nil {
			t.Fatalf("session %d of the client: %v", i, err)
		}
		f.clock.Advance(time.Minute)
	}
	// The first session ends 15 minutes after it started: 12 from now.
	_, err := f.redeemFrom(t, "198.51.100.7")
	wantClientLimit(t, "4th session", err, 12*time.Minute)
	_, err = f.redeemFrom(t, "[::ffff:198.51.100.7]:4431")
	wantClientLimit(t, "the same address, IPv4-mapped", err, 12*time.Minute)
	if _, err := f.redeemFrom(t, "198.51.100.8"); err != nil {
		t.Fatalf("another client: %v", err)
	}
	f.clock.Advance(12*time.Minute - time.Second)
	_, err = f.redeemFrom(t, "198.51.100.7")
	wantClientLimit(t, "a second before the first session ends", err, time.Second)
	f.clock.Advance(time.Second)
	if _, err := f.redeemFrom(t, "198.51.100.7"); err != nil {
		t.Fatalf("once the first session ended: %v", err)
	}
	if rep, _ := f.t.Capacity(context.Background()); rep.Active != 4 {
		t.Fatalf("active %d, want 4", rep.Active)
	}
}

func TestClientSessionsGroupIPv6By64(t *testing.T) {
	f := newLimitedFixture(t, 100, 2)
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"} {
		if _, err := f.redeemFrom(t, ip); err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
	}
	_, err := f.redeemFrom(t, "[2001:db8:1:2::ffff]:443")
	wantClientLimit(t, "a neighbour in the /64", err, 15*time.Minute)
	if _, err := f.redeemFrom(t, "2001:db8:1:3::1"); err != nil {
		t.Fatalf("the next /64: %v", err)
	}
}

func TestClientSessionsCountRenewals(t *testing.T) {
	f := newLimitedFixture(t, 100, 2)
	ctx := context.Background()
	first, err := f.redeemFrom(t, "203.0.113.5")
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.redeemFrom(t, "203.0.113.5")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(16 * time.Minute)
	// Expired sessions no longer count: both renew.
	if _, err := f.t.Renew(ctx, first.Token, "GET", "/dash/market.html", "203.0.113.5"); err != nil {
		t.Fatalf("renewal: %v", err)
	}
	if _, err := f.redeemFrom(t, "203.0.113.5"); err != nil {
		t.Fatalf("a redemption beside the renewal: %v", err)
	}
	// A renewal is a new session: it passes the client's limit.
	_, err = f.t.Renew(ctx, second.Token, "GET", "/dash/market.html", "203.0.113.5")
	wantClientLimit(t, "a renewal past the limit", err, 15*time.Minute)
	// Refused, it was not spent: it renews once there is room.
	if _, err := f.t.Renew(ctx, second.Token, "GET", "/dash/market.html", "203.0.113.6"); err != nil {
		t.Fatalf("the refused renewal from another network: %v", err)
	}
}

func TestClientSessionsOff(t *testing.T) {
	f := newLimitedFixture(t, 100, policy.NoClientLimit)
	for i := range 30 {
		if _, err := f.redeemFrom(t, "198.51.100.7"); err != nil {
			t.Fatalf("session %d without a client limit: %v", i, err)
		}
	}
}

func TestClientSessionsExactUnderConcurrency(t *testing.T) {
	const limit, tries = 10, 200
	f := newLimitedFixture(t, 1000, limit)
	code := f.code(t, "market")
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted, limited := 0, 0
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two addresses of one /64, and the same address two ways.
			ip := []string{"2001:db8:7::1", "2001:db8:7::2"}[i%2]
			_, err := f.t.Redeem(context.Background(), policy.Redemption{App: "market", Code: code, Client: ip})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
			case errors.Is(err, policy.ErrClientLimit):
				limited++
			default:
				t.Errorf("redemption %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if admitted != limit || limited != tries-limit {
		t.Fatalf("admitted %d, limited %d; want exactly %d and %d", admitted, limited, limit, tries-limit)
	}
}

func TestExpiredTokenRenewsOnce(t *testing.T) {
	f := newFixture(t, 100)
	ctx := context.Background()
	o := f.open1(t)
	f.clock.Advance(16 * time.Minute)
	const tabs = 20
	var wg sync.WaitGroup
	results := make([]error, tabs)
	for i := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = f.t.Renew(ctx, o.Token, "GET", "/dash/market.html", "192.0.2.1")
		}()
	}
	wg.Wait()
	renewed := 0
	for i, err := range results {
		switch err {
		case nil:
			renewed++
		case policy.ErrExpired:
		default:
			t.Fatalf("tab %d: %v", i, err)
		}
	}
	if renewed != 1 {
		t.Fatalf("%d of %d replays of one expired token renewed, want exactly 1", renewed, tabs)
	}
	if rep, _ := f.t.Capacity(ctx); rep.Active != 1 {
		t.Fatalf("active %d, want the one renewal", rep.Active)
	}
	// A replay after a restart is refused too.
	f.restart(t)
	if _, err := f.t.Renew(ctx, o.Token, "GET", "/dash/market.html", "192.0.2.1"); err != policy.ErrExpired {
		t.Fatalf("replay after a restart: got %v, want ErrExpired", err)
	}
}

func TestRenewalRefusedForCapacityIsNotSpent(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	o := f.open1(t)
	f.clock.Advance(16 * time.Minute)
	if _, err := f.redeemFrom(t, "192.0.2.50"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.t.Renew(ctx, o.Token, "GET", "/dash/market.html", "192.0.2.1"); err != policy.ErrCapacityFull {
		t.Fatalf("renewal at capacity: got %v, want ErrCapacityFull", err)
	}
	f.clock.Advance(15 * time.Minute)
	if _, err := f.t.Renew(ctx, o.Token, "GET", "/dash/market.html", "192.0.2.1"); err != nil {
		t.Fatalf("the same token once there is room: %v", err)
	}
}
