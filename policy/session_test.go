package policy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

func TestRedeemAndAuthorize(t *testing.T) {
	f := newFixture(t, 10)
	o := f.open1(t)
	if o.Location != testApp.Entry {
		t.Fatalf("location %q, want the entry", o.Location)
	}
	if o.Session.ExpiresAt.Sub(o.Session.IssuedAt) != 15*time.Minute {
		t.Fatalf("session lasts %v", o.Session.ExpiresAt.Sub(o.Session.IssuedAt))
	}
	tests := []struct {
		method, path string
		want         error
	}{
		{"GET", "/dash/market.html", nil},
		{"HEAD", "/dash/market.json", nil},
		{"GET", "/assets/app.js", nil},
		{"GET", "/assets/secret/key", policy.ErrOutOfScope},
		{"GET", "/dash/other.html", policy.ErrOutOfScope},
		{"GET", "/assets", policy.ErrOutOfScope},
		{"POST", "/dash/market.html", policy.ErrMethodNotAllowed},
		{"DELETE", "/assets/app.js", policy.ErrMethodNotAllowed},
	}
	for _, tt := range tests {
		_, err := f.t.Authorize(o.Token, tt.method, tt.path)
		if err != tt.want {
			t.Errorf("%s %s: got %v, want %v", tt.method, tt.path, err, tt.want)
		}
	}
}

func TestRedeemRefusesAlikeUnknownWrongAndOff(t *testing.T) {
	f := newFixture(t, 10)
	good := f.code(t, "market")
	ctx := context.Background()
	cases := map[string]policy.Redemption{
		"unknown app":   {App: "nope", Code: good},
		"wrong code":    {App: "market", Code: otherLast(good)},
		"empty code":    {App: "market", Code: ""},
		"oversized":     {App: "market", Code: string(make([]byte, 4096))},
		"not shareable": {App: "notes", Code: good},
	}
	for name, r := range cases {
		r.Client = name
		if _, err := f.t.Redeem(ctx, r); err != policy.ErrDenied {
			t.Errorf("%s: got %v, want ErrDenied", name, err)
		}
	}
	if _, err := f.t.AsOperator("192.0.2.9").SetAnonymousAccess(ctx, "market", false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.t.Redeem(ctx, policy.Redemption{App: "market", Code: good, Client: "x"}); err != policy.ErrDenied {
		t.Errorf("turned off: got %v, want ErrDenied", err)
	}
}

// otherLast changes the last character of a code.
func otherLast(code string) string {
	if code[len(code)-1] == 'A' {
		return code[:len(code)-1] + "B"
	}
	return code[:len(code)-1] + "A"
}

func TestRedeemObject(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	code := f.code(t, "market")
	o, err := f.t.Redeem(ctx, policy.Redemption{App: "market", Code: code, Kind: policy.KindEmbed, Object: "/dash/market-q3.html?tab=2"})
	if err != nil || o.Location != "/dash/market-q3.html?tab=2" || o.Session.Kind != policy.KindEmbed {
		t.Fatalf("object inside scope: %v %q %q", err, o.Location, o.Session.Kind)
	}
	for _, obj := range []string{"/assets/secret/x", "/other", "//evil.example.com/x", "https://evil.example.com/", "/dash/../etc"} {
		_, err := f.t.Redeem(ctx, policy.Redemption{App: "market", Code: code, Object: obj})
		var inv *policy.InvalidError
		if !errors.As(err, &inv) {
			t.Errorf("object %q: got %v, want an InvalidError", obj, err)
		}
	}
}

func TestRateLimitAfterRepeatedFailures(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if _, err := f.t.Redeem(ctx, policy.Redemption{App: "market", Code: "wrong", Client: "198.51.100.7"}); err != policy.ErrDenied {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	_, err := f.t.Redeem(ctx, policy.Redemption{App: "market", Code: f.code(t, "market"), Client: "198.51.100.7"})
	var rl *policy.RetryError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
		t.Fatalf("11th try: got %v, want rate limited with a wait", err)
	}
	if _, err := f.t.Redeem(ctx, policy.Redemption{App: "market", Code: f.code(t, "market"), Client: "198.51.100.8"}); err != nil {
		t.Fatalf("another client is not limited: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.t.Redeem(ctx, policy.Redemption{App: "market", Code: f.code(t, "market"), Client: "198.51.100.7"}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestExpiryAndRenewal(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	o := f.open1(t)
	f.clock.Advance(15*time.Minute - time.Second)
	if _, err := f.t.Authorize(o.Token, "GET", "/dash/market.html"); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.t.Authorize(o.Token, "GET", "/dash/market.html"); err != policy.ErrExpired {
		t.Fatalf("at expiry: got %v, want ErrExpired", err)
	}
	if u, _ := f.t.Capacity(ctx); u.Active != 0 {
		t.Fatalf("expired session still counted: %d", u.Active)
	}
	if _, err := f.t.Renew(ctx, o.Token, "GET", "/elsewhere.html", ""); err != policy.ErrOutOfScope {
		t.Fatalf("renewal on a page outside the scope: got %v, want ErrOutOfScope", err)
	}
	n, err := f.t.Renew(ctx, o.Token, "GET", "/dash/market.html", "")
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	if n.Session.ID == o.Session.ID || n.Token == o.Token {
		t.Fatal("renewal must start a new session")
	}
	if _, err := f.t.Authorize(n.Token, "GET", "/dash/market.html"); err != nil {
		t.Fatalf("renewed session: %v", err)
	}
	if u, _ := f.t.Capacity(ctx); u.Active != 1 {
		t.Fatalf("renewed session counted %d, want 1", u.Active)
	}
	// A live (not expired) token is not a renewal ticket for a second
	// session; only the renewal window bounds renewals.
	f.clock.Advance(12 * time.Hour)
	if _, err := f.t.Renew(ctx, n.Token, "GET", "/dash/market.html", ""); err != policy.ErrExpired {
		t.Fatalf("past the renewal window: got %v, want ErrExpired", err)
	}
}

func TestRenewalPassesCapacity(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	o := f.open1(t)
	f.clock.Advance(16 * time.Minute)
	other, err := f.t.Redeem(ctx, policy.Redemption{App: "market", Code: f.code(t, "market")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.t.Renew(ctx, o.Token, "GET", "/dash/market.html", ""); err != policy.ErrCapacityFull {
		t.Fatalf("renewal at capacity: got %v, want ErrCapacityFull", err)
	}
	_ = other
}

func TestCapacityExactUnderConcurrency(t *testing.T) {
	const capacity, tries = 25, 400
	f := newFixture(t, capacity)
	code := f.code(t, "market")
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[error]int{}
	for i := 0; i < tries; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.t.Redeem(context.Background(), policy.Redemption{App: "market", Code: code, Client: fmt.Sprint(i)})
			mu.Lock()
			results[err]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if results[nil] != capacity || results[policy.ErrCapacityFull] != tries-capacity {
		t.Fatalf("admitted %d, full %d (all: %v); want %d and %d", results[nil], results[policy.ErrCapacityFull], results, capacity, tries-capacity)
	}
	rep, _ := f.t.Capacity(context.Background())
	if rep.Active != capacity || rep.Peak != capacity || rep.Capacity != capacity {
		t.Fatalf("report %+v", rep)
	}
	// Expiry frees every slot.
	f.clock.Advance(15 * time.Minute)
	if _, err := f.t.Redeem(context.Background(), policy.Redemption{App: "market", Code: code}); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// BenchmarkAuthorize is the per-request check of a request with a live
// session while 10 000 sessions are active: the hot path of every
// protected request.
func BenchmarkAuthorize(b *testing.B) {
	f := newFixture(b, 1_000_000)
	var tokens []string
	code := f.code(b, "market")
	for i := 0; i < 10_000; i++ {
		o, err := f.t.Redeem(context.Background(), policy.Redemption{App: "market", Code: code})
		if err != nil {
			b.Fatal(err)
		}
		tokens = append(tokens, o.Token)
	}
	for _, tok := range tokens { // warm the verified-token cache
		if _, err := f.t.Authorize(tok, "GET", "/dash/market.html"); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond) // ristretto applies Sets asynchronously
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := f.t.Authorize(tokens[i%len(tokens)], "GET", "/dash/market.html"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRedeem is a link redemption: code check, admission through
// capacity and the client's limit (the default), and minting a token.
// Redemptions come from benchClients addresses in turn, as from many
// viewers, each holding a few sessions.
func BenchmarkRedeem(b *testing.B) {
	f := newLimitedFixture(b, 100_000_000, policy.DefaultClientSessions)
	code := f.code(b, "market")
	clients := benchClients()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := f.t.Redeem(context.Background(), policy.Redemption{App: "market", Code: code, Client: clients[i%len(clients)]}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRedeemSteady is a redemption in a steady state: about 10 000
// live sessions of as many clients, sessions expiring as fast as new ones
// start (the clock moves a second every 11 redemptions), so the tables
// stay the size of a busy tenant instead of growing with the benchmark.
func BenchmarkRedeemSteady(b *testing.B) {
	f := newLimitedFixture(b, 10_000, policy.DefaultClientSessions)
	code := f.code(b, "market")
	clients := benchClients()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%11 == 0 {
			f.clock.Advance(time.Second)
		}
		if _, err := f.t.Redeem(context.Background(), policy.Redemption{App: "market", Code: code, Client: clients[i%len(clients)]}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchClients returns 2^18 IPv4 addresses: room for 2.6 M sessions at the
// default client limit.
func benchClients() []string {
	out := make([]string, 1<<18)
	for i := range out {
		out[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff)
	}
	return out
}

// TestRenewalWindowCountsFromTheRedemption checks that a viewer who
// reloads once in every session cannot keep a link opened once alive past
// the renewal window.
func TestRenewalWindowCountsFromTheRedemption(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	o := f.open1(t)
	end := o.Session.IssuedAt.Add(12 * time.Hour)
	token := o.Token
	for f.clock.Now().Add(16 * time.Minute).Before(end) {
		f.clock.Advance(16 * time.Minute)
		n, err := f.t.Renew(ctx, token, "GET", "/dash/market.html", "")
		if err != nil {
			t.Fatalf("renewal at %v: %v", f.clock.Now(), err)
		}
		if !n.Session.RenewUntil.Equal(end) {
			t.Fatalf("renewal moved the end of the window to %v, want %v", n.Session.RenewUntil, end)
		}
		token = n.Token
	}
	f.clock.Advance(end.Sub(f.clock.Now()))
	if _, err := f.t.Renew(ctx, token, "GET", "/dash/market.html", ""); err != policy.ErrExpired {
		t.Fatalf("renewal at the end of the window: %v, want ErrExpired", err)
	}
}
