package policy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// cookies is a request's session cookies as (app, token) pairs, in order.
func cookies(pairs ...string) []string { return pairs }

// check offers the cookies to a check of a GET of path, as the handler
// does, and returns its decision.
func check(f *fixture, path string, pairs []string) policy.Decision {
	c := f.t.CheckCookies("GET", path)
	for i := 0; i+1 < len(pairs) && c.Offer(pairs[i], pairs[i+1]); i += 2 {
	}
	return c.Decision
}

// withSales adds a second shared app, "sales", to the fixture's tenant.
func withSales(t *testing.T, f *fixture) policy.Opened {
	t.Helper()
	reg := f.registration()
	reg.Apps = append(reg.Apps, policy.ProvisionedApp{InitiallyOn: true, App: policy.App{
		ID: "sales", Space: "stats", Entry: "/sales/index.html", Scope: []string{"/sales/*"}}})
	if err := f.t.Register(context.Background(), f, reg); err != nil {
		t.Fatal(err)
	}
	o, err := f.t.Redeem(context.Background(), policy.Redemption{App: "sales", Code: f.code(t, "sales")})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestARevokedCookieDoesNotBlockAnotherAppsRenewal checks that refusals
// are ranked per cookie: a dead cookie of one app never stops a page load
// from renewing another app's expired session, and is marked for clearing.
func TestARevokedCookieDoesNotBlockAnotherAppsRenewal(t *testing.T) {
	f := newFixture(t, 10)
	market := f.open1(t)
	sales := withSales(t, f)
	if _, err := f.t.AsOperator("192.0.2.9").ResetCode(context.Background(), "sales"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(16 * time.Minute)
	d := check(f, "/dash/market.html", cookies("sales", sales.Token, "market", market.Token))
	if d.Granted != nil || d.Renewable != market.Token {
		t.Fatalf("renewable %v, granted %v: the market session must be renewable", d.Renewable != "", d.Granted != nil)
	}
	if !errors.Is(d.Refusal, policy.ErrRevoked) || len(d.Revoked) != 1 || d.Revoked[0].App != "sales" {
		t.Fatalf("refusal %v, revoked %+v", d.Refusal, d.Revoked)
	}
}

// TestExpiredCookieOutsideItsScopeIsNotRenewable checks that an expired
// session is renewable only on a page of its own app.
func TestExpiredCookieOutsideItsScopeIsNotRenewable(t *testing.T) {
	f := newFixture(t, 10)
	market := f.open1(t)
	f.clock.Advance(16 * time.Minute)
	d := check(f, "/sales/index.html", cookies("market", market.Token))
	if d.Renewable != "" || !errors.Is(d.Refusal, policy.ErrExpired) {
		t.Fatalf("renewable %v, refusal %v", d.Renewable != "", d.Refusal)
	}
}

// TestCookiesAreExaminedOncePerApp checks the bounds on what one request
// makes us verify: cookies of apps the tenant does not serve are skipped,
// only the first cookie of an app counts, and a token stands only under
// its own app's cookie name.
func TestCookiesAreExaminedOncePerApp(t *testing.T) {
	f := newFixture(t, 10)
	market := f.open1(t)
	sales := withSales(t, f)
	for _, tc := range []struct {
		name    string
		cookies []string
		granted bool
		refusal error
	}{
		{"own name", cookies("market", market.Token), true, nil},
		{"after unknown apps", cookies("nope", "x.y.z", "other", market.Token, "market", market.Token), true, nil},
		{"under another app's name", cookies("sales", market.Token), false, policy.ErrInvalidToken},
		{"second cookie of an app", cookies("market", "forged.token.here", "market", market.Token), false, policy.ErrInvalidToken},
		{"other app's session elsewhere", cookies("sales", sales.Token), false, policy.ErrOutOfScope},
		{"none", cookies(), false, policy.ErrNoSession},
	} {
		d := check(f, "/dash/market.html", tc.cookies)
		if (d.Granted != nil) != tc.granted || (!tc.granted && !errors.Is(d.Refusal, tc.refusal)) {
			t.Errorf("%s: granted %v, refusal %v", tc.name, d.Granted != nil, d.Refusal)
		}
	}
}

// BenchmarkAuthorizeRequest is the per-request check as the handler makes
// it, with one live session cookie, and with 64 forged cookies before it:
// the forged ones must cost little more than the real one.
func BenchmarkAuthorizeRequest(b *testing.B) {
	f := newFixture(b, 1000)
	o, err := f.t.Redeem(context.Background(), policy.Redemption{App: "market", Code: f.code(b, "market")})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.t.Authorize(o.Token, "GET", "/dash/market.html"); err != nil {
		b.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // ristretto applies Sets asynchronously
	forged := make([]string, 0, 130)
	for i := range 64 {
		forged = append(forged, fmt.Sprintf("app%d", i), o.Token[:len(o.Token)-4]+"AAAA")
	}
	forged[0] = "market" // one forged cookie under a real app's name
	for name, pairs := range map[string][]string{
		"one-cookie":        {"market", o.Token},
		"64-forged-cookies": append(forged, "market", o.Token),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if d := check(f, "/dash/market.html", pairs); (d.Granted != nil) != (name == "one-cookie") {
					b.Fatalf("%s: granted %v, refusal %v", name, d.Granted != nil, d.Refusal)
				}
			}
		})
	}
}

// TestADeadCookieBeforeALiveOneIsStillCleared checks that a revoked cookie
// offered before the cookie that grants is still marked for clearing.
func TestADeadCookieBeforeALiveOneIsStillCleared(t *testing.T) {
	f := newFixture(t, 10)
	market := f.open1(t)
	sales := withSales(t, f)
	if _, err := f.t.AsOperator("192.0.2.9").ResetCode(context.Background(), "sales"); err != nil {
		t.Fatal(err)
	}
	d := check(f, "/dash/market.html", cookies("sales", sales.Token, "market", market.Token))
	if d.Granted == nil || len(d.Revoked) != 1 || d.Revoked[0].App != "sales" {
		t.Fatalf("granted %v, revoked %+v", d.Granted != nil, d.Revoked)
	}
}
