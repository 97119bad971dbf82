//go:build unix

package e2e

// Instances sharing one Redis are one gateway: one capacity, sessions good
// everywhere, state kept across a restart.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// TestE2ERedisCapacityExactAcrossInstances: capacity is one tenant-wide
// number, however many instances admit.
func TestE2ERedisCapacityExactAcrossInstances(t *testing.T) {
	t.Parallel()
	const capacity, attempts = 25, 520
	rc, gws := newRedisCluster(t, 2, gatewayConfig{Capacity: capacity})
	code := rc.link("market", gws...)
	clients := []*client{newClient(t), newClient(t)}
	rush := redeemAtOnce(t, code, attempts, func(i int) (*client, *gateway) { return clients[i%2], gws[i%2] }, func(i int, r reply) {
		if msg := errorCode(r); msg != "capacity_full" {
			t.Errorf("redemption %d: 503 %q, want the capacity refusal (Redis is up)", i, msg)
		}
	})
	admitted := rush.admitted
	perGateway := [2]int{}
	for k, s := range admitted {
		rc.secret(s.token, s.jti)
		perGateway[rush.by[k]%2]++
	}
	rush.wantExactly(t, capacity, attempts, fmt.Sprintf(" (%d by gateway 0, %d by gateway 1)", perGateway[0], perGateway[1]))
	t.Logf("admitted by gateway 0: %d, by gateway 1: %d", perGateway[0], perGateway[1])

	for i, g := range gws {
		rep := g.capacity(t)
		if rep.Capacity != capacity || rep.Active != capacity || rep.PerApp["market"] != capacity || rep.Peak != capacity {
			t.Errorf("gateway %d's capacity route = %+v, want capacity, active and peak %d", i, rep, capacity)
		}
		r := g.redeem(t, newClient(t), http.MethodPost, "market", url.Values{"code": {code}})
		wantStatus(t, fmt.Sprintf("redemption on gateway %d when full", i), r, http.StatusServiceUnavailable)
		retryAfter(t, r)
	}
	// Every admitted session works on both instances, wherever it began.
	for _, s := range admitted {
		for i, g := range gws {
			wantStatus(t, fmt.Sprintf("admitted session on gateway %d", i), getWith(t, clients[i], g, s, marketEntry), http.StatusOK)
		}
	}
}

// TestE2ERedisSessionWorksOnEveryInstance: a session minted on one
// instance is good on every instance.
func TestE2ERedisSessionWorksOnEveryInstance(t *testing.T) {
	t.Parallel()
	rc, gws := newRedisCluster(t, 2, gatewayConfig{})
	a, b := gws[0], gws[1]
	code := rc.link("market", a, b)
	c := newClient(t)
	fromA := rc.open(a, c, "market", code)
	fromB := rc.open(b, c, "market", code)
	if fromA.jti == fromB.jti {
		t.Fatal("two instances minted the same session id")
	}

	refs := map[string]string{} // session id -> X-Anonymous-Session
	for _, from := range []struct {
		name string
		s    session
	}{{"A", fromA}, {"B", fromB}} {
		s := from.s
		for i, g := range gws {
			what := fmt.Sprintf("session from gateway %s on gateway %d", from.name, i)
			r := getWith(t, c, g, s, marketEntry)
			wantStatus(t, what, r, http.StatusOK)
			if string(r.Body) != "backend GET "+marketEntry {
				t.Errorf("%s: body %q", what, r.Body)
			}
			seen := rc.backend.last(t)
			ref := seen.Header.Get("X-Anonymous-Session")
			if seen.Header.Get("X-Anonymous-App") != "market" || ref == "" {
				t.Errorf("%s: backend got app %q session %q", what, seen.Header.Get("X-Anonymous-App"), ref)
			}
			if prev, ok := refs[s.jti]; ok && prev != ref {
				t.Errorf("%s: the backend sees session reference %q, another instance sent %q for the same session", what, ref, prev)
			}
			refs[s.jti] = ref

			var info struct{ Sessions []policy.SessionInfo }
			r = getWith(t, c, g, s, "/_anon/session")
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &info) != nil || len(info.Sessions) != 1 || info.Sessions[0].App != "market" {
				t.Errorf("%s: /_anon/session = %d %s, want the market session", what, r.Status, r.Body)
			}
		}
	}
	if refs[fromA.jti] == refs[fromB.jti] {
		t.Error("two sessions got the same reference")
	}
	for i, g := range gws {
		if rep := g.capacity(t); rep.Active != 2 || rep.PerApp["market"] != 2 {
			t.Errorf("gateway %d's capacity route = %+v, want the 2 sessions of both instances", i, rep)
		}
	}
}

// TestE2ERedisRestartKeepsState: an instance restarted with the same
// configuration finds everything.
func TestE2ERedisRestartKeepsState(t *testing.T) {
	t.Parallel()
	const capacity = 4
	rc, gws := newRedisCluster(t, 2, gatewayConfig{Capacity: capacity})
	a, b := gws[0], gws[1]
	c := newClient(t)
	market := rc.link("market", a, b)
	salesOld := rc.link("sales", a, b)
	fromA := rc.open(a, c, "market", market)
	fromB := rc.open(b, c, "market", market)
	sales := rc.open(b, c, "sales", salesOld)

	dirB := b.dir
	if err := b.stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, b.stderr.String())
	}
	// Changes made meanwhile on the other instance.
	a.mustCLI(t, "reset-code", "sales")
	a.mustCLI(t, "disable", "ops")
	salesNew := a.link(t, "sales")
	rc.secret(salesNew)

	b = rc.start(dirB)
	if got := b.link(t, "market"); got != market {
		t.Error("the market access code changed across a restart")
	}
	if got := b.link(t, "sales"); got != salesNew {
		t.Error("the restarted instance does not hand out the code reset while it was down")
	}
	if _, err := b.cli("link", "ops"); err == nil {
		t.Error("an app turned off while the instance was down is on after its restart")
	}
	for _, s := range []session{fromA, fromB} {
		wantStatus(t, "session from before the restart", getWith(t, c, b, s, marketEntry), http.StatusOK)
	}
	wantStatus(t, "session ended by a reset while the instance was down", getWith(t, c, b, sales, salesEntry), http.StatusUnauthorized)
	r := b.redeem(t, newClient(t), http.MethodPost, "sales", url.Values{"code": {salesOld}})
	wantStatus(t, "code from before the reset, after restart", r, http.StatusForbidden)

	if rep := b.capacity(t); rep.Active != 2 || rep.PerApp["market"] != 2 || rep.Peak != 3 {
		t.Errorf("after restart the capacity route reports %+v, want the 2 live market sessions and a peak of 3", rep)
	}
	// The slots still count: two more fill the tenant, on either instance.
	rc.open(b, c, "market", market)
	rc.open(a, c, "market", market)
	for i, g := range []*gateway{a, b} {
		r := g.redeem(t, newClient(t), http.MethodPost, "market", url.Values{"code": {market}})
		wantStatus(t, fmt.Sprintf("redemption on gateway %d past capacity after restart", i), r, http.StatusServiceUnavailable)
		retryAfter(t, r)
		if rep := g.capacity(t); rep.Active != capacity {
			t.Errorf("gateway %d's capacity route = %+v, want %d active", i, rep, capacity)
		}
	}
}
