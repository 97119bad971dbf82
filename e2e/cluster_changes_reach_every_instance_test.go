//go:build unix

package e2e

import (
	"strings"
	"testing"
	"time"
)

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
