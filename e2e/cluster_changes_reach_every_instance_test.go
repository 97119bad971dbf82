//go:build unix

package e2e

// A change made on one instance is in force on every other.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestE2ERedisRevocationAcrossInstances: a reset or turn-off on one
// instance is in force on the other within 1 s.
func TestE2ERedisRevocationAcrossInstances(t *testing.T) {
	t.Parallel()
	rc, gws := newRedisCluster(t, 2, gatewayConfig{})
	a, b := gws[0], gws[1]
	c := newClient(t)

	// reset-code on A.
	old := rc.link("market", a, b)
	onA, onB := rc.open(a, c, "market", old), rc.open(b, c, "market", old)
	for _, s := range []session{onA, onB} {
		// Served once, so B holds the verified token in its cache.
		wantStatus(t, "session on B before the reset", getWith(t, c, b, s, marketEntry), http.StatusOK)
	}
	a.mustCLI(t, "reset-code", "market")
	deadline := time.Now().Add(revocationBound)
	refusedOn(t, c, b, deadline, "B refuses the sessions from before reset-code on A", onA, onB)
	redeemOn(t, b, deadline, "B refuses the old link after reset-code on A", old, http.StatusForbidden)
	wantStatus(t, "session on A after its own reset", getWith(t, c, a, onB, marketEntry), http.StatusUnauthorized)
	code := rc.link("market", a, b)
	if code == old {
		t.Fatal("reset-code kept the access code")
	}

	// disable on A.
	onA, onB = rc.open(a, c, "market", code), rc.open(b, c, "market", code)
	for _, s := range []session{onA, onB} {
		wantStatus(t, "session on B before disable", getWith(t, c, b, s, marketEntry), http.StatusOK)
	}
	a.mustCLI(t, "disable", "market")
	deadline = time.Now().Add(revocationBound)
	refusedOn(t, c, b, deadline, "B refuses the sessions after disable on A", onA, onB)
	redeemOn(t, b, deadline, "B refuses the link after disable on A", code, http.StatusForbidden)
	if _, err := b.cli("link", "market"); err == nil {
		t.Error("B still hands out the link of a turned-off app")
	}

	// enable on A.
	a.mustCLI(t, "enable", "market")
	r := redeemOn(t, b, time.Now().Add(revocationBound), "B serves the link after enable on A", code, http.StatusSeeOther)
	s := sessionFrom(t, "market", r)
	rc.secret(s.token, s.jti)
	wantStatus(t, "new session on B after enable", getWith(t, c, b, s, marketEntry), http.StatusOK)
	wantStatus(t, "new session from B on A", getWith(t, c, a, s, marketEntry), http.StatusOK)
	if again := rc.link("market", a, b); again != code {
		t.Error("disable and enable changed the access code")
	}
	for _, prev := range []session{onA, onB} {
		wantStatus(t, "session from before disable, after enable", getWith(t, c, b, prev, marketEntry), http.StatusUnauthorized)
	}
}

// refusedOn polls g until every session is refused with 401.
func refusedOn(t *testing.T, c *client, g *gateway, deadline time.Time, what string, sessions ...session) {
	t.Helper()
	took := waitUntil(t, deadline, what, func() (bool, string) {
		for _, s := range sessions {
			r := getWith(t, c, g, s, marketEntry)
			switch r.Status {
			case http.StatusUnauthorized:
			case http.StatusOK:
				return false, "a revoked session served with 200"
			default:
				t.Fatalf("%s: status %d %s", what, r.Status, r.Body)
			}
		}
		return true, ""
	})
	t.Logf("%s: after %v", what, took.Round(time.Millisecond))
}

// redeemOn polls g's redemption of market's code until it answers want.
// Each try comes from a new client address: a refusal counts against its
// address, and enough of them would bring 429.
func redeemOn(t *testing.T, g *gateway, deadline time.Time, what, code string, want int) reply {
	t.Helper()
	var last reply
	waitUntil(t, deadline, what, func() (bool, string) {
		last = g.redeem(t, newClient(t), http.MethodPost, "market", url.Values{"code": {code}})
		if last.Status != http.StatusSeeOther && last.Status != http.StatusForbidden {
			t.Fatalf("%s: status %d %s", what, last.Status, last.Body)
		}
		return last.Status == want, fmt.Sprintf("status %d", last.Status)
	})
	return last
}

// TestE2ERedisManagementAcrossInstances makes tenant users' changes on
// one instance and checks every other instance sees them: roles and
// members (read from the store on each call), a published app, its
// anonymous access and a code reset, which ends a session held on the
// other instance.
func TestE2ERedisManagementAcrossInstances(t *testing.T) {
	rc, gws := newRedisCluster(t, 2, gatewayConfig{})
	a, b := gws[0], gws[1]
	c := newClient(t)

	wantAPI(t, "Publishers on A", a.api(t, c, "alice", "POST", "/roles", `{"name":"Publishers","public_link_creation":"allowed"}`), 201)
	wantAPI(t, "bob gets Publishers on B", b.api(t, c, "alice", "PUT", "/users/bob/roles", `{"roles":["Publishers"]}`), 200)
	wantAPI(t, "space on A", a.api(t, c, "alice", "POST", "/spaces", `{"id":"pub","type":"managed"}`), 201)
	wantAPI(t, "bob joins on B", b.api(t, c, "alice", "PUT", "/spaces/pub/members/bob", `{"role":"can_manage"}`), 200)
	wantAPI(t, "bob publishes on A", a.api(t, c, "bob", "POST", "/spaces/pub/apps", `{"id":"kpis","entry":"/dashboards/market.html","scope":["/dashboards/market*"]}`), 201)
	waitUntil(t, time.Now().Add(revocationBound), "B serves the app published on A", func() (bool, string) {
		r := b.api(t, c, "bob", "GET", "/apps/kpis", "")
		return r.Status == 200, string(r.Body)
	})
	wantAPI(t, "bob shares on B", b.api(t, c, "bob", "PUT", "/apps/kpis/anonymous-access", `{"enabled":true}`), 200)

	var link struct{ URL string }
	waitUntil(t, time.Now().Add(revocationBound), "A hands out the link", func() (bool, string) {
		r := a.api(t, c, "bob", "GET", "/apps/kpis/link", "")
		if r.Status == 200 {
			decodeJSON(t, r, &link)
		}
		return r.Status == 200, string(r.Body)
	})
	code := codeOf(t, link.URL)
	rc.secret(code)
	visitor := newClient(t)
	s := rc.open(b, visitor, "kpis", code)
	wantStatus(t, "the dashboard on B", getWith(t, visitor, b, s, marketEntry), 200)

	wantAPI(t, "bob resets on A", a.api(t, c, "bob", "POST", "/apps/kpis/anonymous-access/reset-code", ""), 200)
	waitUntil(t, time.Now().Add(revocationBound), "the session on B ends", func() (bool, string) {
		r := getWith(t, visitor, b, s, marketEntry)
		return r.Status == 401, string(r.Body)
	})

	r := b.api(t, c, "alice", "GET", "/audit", "")
	wantAPI(t, "audit on B", r, 200)
	for _, action := range []string{"create_role", "assign_roles", "create_space", "set_member", "publish_app", "set_anonymous_access", "reset_code"} {
		if !strings.Contains(string(r.Body), `"action":"`+action+`"`) {
			t.Fatalf("audit log on B lacks %s: %s", action, r.Body)
		}
	}
}
