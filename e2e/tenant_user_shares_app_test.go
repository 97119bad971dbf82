//go:build unix

package e2e

// Tenant users share an app through the management API, each as far as
// their permission and space role allow.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestE2EManagementWorkflow walks the README's "For tenant users"
// workflow through HTTP with real signed tokens for several users, and
// checks that each forbidden step is 403 and changes nothing.
func TestE2EManagementWorkflow(t *testing.T) {
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	c := newClient(t)
	app := func(user, id string) appJSON {
		t.Helper()
		var a appJSON
		r := g.api(t, c, user, "GET", "/apps/"+id, "")
		wantAPI(t, "GET app "+id, r, 200)
		decodeJSON(t, r, &a)
		return a
	}

	// 1. The permission: denied for everyone until a tenant admin says.
	wantAPI(t, "bob sets User Default", g.api(t, c, "bob", "PUT", "/roles/user-default", `{"public_link_creation":"allowed"}`), 403)
	var roles []struct {
		Name               string   `json:"name"`
		PublicLinkCreation string   `json:"public_link_creation"`
		Users              []string `json:"users"`
	}
	r := g.api(t, c, "alice", "GET", "/roles", "")
	wantAPI(t, "alice lists roles", r, 200)
	decodeJSON(t, r, &roles)
	if roles[0].Name != "User Default" || roles[0].PublicLinkCreation != "denied" {
		t.Fatalf("User Default after bob's try: %+v", roles[0])
	}
	wantAPI(t, "alice creates Publishers", g.api(t, c, "alice", "POST", "/roles", `{"name":"Publishers","description":"May share","public_link_creation":"allowed"}`), 201)
	wantAPI(t, "Publishers again", g.api(t, c, "alice", "POST", "/roles", `{"name":"Publishers","public_link_creation":"allowed"}`), 409)
	wantAPI(t, "bob gives himself Publishers", g.api(t, c, "bob", "PUT", "/users/bob/roles", `{"roles":["Publishers"]}`), 403)
	wantAPI(t, "alice gives bob Publishers", g.api(t, c, "alice", "PUT", "/users/bob/roles", `{"roles":["Publishers"]}`), 200)
	var me struct {
		User               string   `json:"user"`
		TenantRoles        []string `json:"tenant_roles"`
		PublicLinkCreation string   `json:"public_link_creation"`
	}
	r = g.api(t, c, "bob", "GET", "/me", "")
	wantAPI(t, "bob's me", r, 200)
	decodeJSON(t, r, &me)
	if me.User != "bob" || me.PublicLinkCreation != "allowed" || strings.Join(me.TenantRoles, ",") != "Publishers" {
		t.Fatalf("bob's me: %s", r.Body)
	}

	// 2. A managed space and its members.
	wantAPI(t, "eve creates a managed space", g.api(t, c, "eve", "POST", "/spaces", `{"id":"public","name":"Public","type":"managed"}`), 403)
	wantAPI(t, "alice creates a managed space", g.api(t, c, "alice", "POST", "/spaces", `{"id":"public","name":"Public dashboards","type":"managed"}`), 201)
	wantAPI(t, "eve joins as manager", g.api(t, c, "eve", "PUT", "/spaces/public/members/eve", `{"role":"can_manage"}`), 403)
	wantAPI(t, "bob as can_manage", g.api(t, c, "alice", "PUT", "/spaces/public/members/bob", `{"role":"can_manage"}`), 200)
	wantAPI(t, "dora as can_view", g.api(t, c, "alice", "PUT", "/spaces/public/members/dora", `{"role":"can_view"}`), 200)
	wantAPI(t, "eve lists members", g.api(t, c, "eve", "GET", "/spaces/public/members", ""), 403)

	// 3. Publish an app.
	const kpis = `{"id":"kpis","name":"KPIs","entry":"/dashboards/market.html","scope":["/dashboards/market*","/assets/*"]}`
	wantAPI(t, "dora publishes", g.api(t, c, "dora", "POST", "/spaces/public/apps", kpis), 403)
	wantAPI(t, "kpis after dora's try", g.api(t, c, "bob", "GET", "/apps/kpis", ""), 404)
	wantAPI(t, "bob publishes", g.api(t, c, "bob", "POST", "/spaces/public/apps", kpis), 201)
	wantAPI(t, "bob publishes again", g.api(t, c, "bob", "POST", "/spaces/public/apps", kpis), 409)
	if a := app("dora", "kpis"); a.AnonymousAccess || a.Provisioned || a.Can["set_anonymous_access"] || a.Can["copy_link"] {
		t.Fatalf("kpis as dora: %+v", a)
	}

	// 4. Turn anonymous access on.
	wantAPI(t, "dora turns it on", g.api(t, c, "dora", "PUT", "/apps/kpis/anonymous-access", `{"enabled":true}`), 403)
	if app("bob", "kpis").AnonymousAccess {
		t.Fatal("dora's refused toggle turned kpis on")
	}
	wantAPI(t, "link while off", g.api(t, c, "dora", "GET", "/apps/kpis/link", ""), 409)
	wantAPI(t, "bob turns it on", g.api(t, c, "bob", "PUT", "/apps/kpis/anonymous-access", `{"enabled":true}`), 200)

	// 5. Copy the link (any space role) and the embed code (managers with
	// the permission); the link opens the dashboard for anyone.
	var link struct{ URL string }
	r = g.api(t, c, "dora", "GET", "/apps/kpis/link", "")
	wantAPI(t, "dora copies the link", r, 200)
	decodeJSON(t, r, &link)
	wantAPI(t, "eve copies the link", g.api(t, c, "eve", "GET", "/apps/kpis/link", ""), 403)
	wantAPI(t, "dora copies the embed code", g.api(t, c, "dora", "GET", "/apps/kpis/embed-code", ""), 403)
	var embed struct{ HTML, URL string }
	r = g.api(t, c, "bob", "GET", "/apps/kpis/embed-code?width=800&height=600", "")
	wantAPI(t, "bob copies the embed code", r, 200)
	decodeJSON(t, r, &embed)
	if !strings.Contains(embed.HTML, "<iframe") || codeOf(t, embed.URL) != codeOf(t, link.URL) {
		t.Fatalf("embed code %q for link %q", embed.HTML, link.URL)
	}
	visitor := newClient(t)
	oldCode := codeOf(t, link.URL)
	s := g.open(t, visitor, "kpis", oldCode)
	wantStatus(t, "the dashboard through the link", getWith(t, visitor, g, s, "/dashboards/market.html"), 200)

	// 6. Reset the code: only managers with the permission; the old link
	// and its sessions die.
	wantAPI(t, "dora resets", g.api(t, c, "dora", "POST", "/apps/kpis/anonymous-access/reset-code", ""), 403)
	wantStatus(t, "old link after dora's try", g.redeem(t, visitor, "POST", "kpis", url.Values{"code": {oldCode}}), http.StatusSeeOther)
	wantAPI(t, "bob resets", g.api(t, c, "bob", "POST", "/apps/kpis/anonymous-access/reset-code", ""), 200)
	wantStatus(t, "old link after the reset", g.redeem(t, visitor, "POST", "kpis", url.Values{"code": {oldCode}}), 403)
	wantStatus(t, "session from before the reset", getWith(t, visitor, g, s, "/dashboards/market.html"), 401)
	r = g.api(t, c, "dora", "GET", "/apps/kpis/link", "")
	decodeJSON(t, r, &link)
	newCode := codeOf(t, link.URL)
	if newCode == oldCode {
		t.Fatal("the reset kept the code")
	}

	// 7. The members view: owners and managers see "Anonymous access"
	// with the app, and turn it off from there.
	var members []memberJSON
	r = g.api(t, c, "dora", "GET", "/spaces/public/members", "")
	wantAPI(t, "dora lists members", r, 200)
	decodeJSON(t, r, &members)
	for _, m := range members {
		if m.Type == "anonymous" {
			t.Fatalf("can_view sees the anonymous member: %s", r.Body)
		}
	}
	r = g.api(t, c, "bob", "GET", "/spaces/public/members", "")
	members = nil
	decodeJSON(t, r, &members)
	last := members[len(members)-1]
	if members[0].User != "alice" || members[0].Role != "owner" || last.Type != "anonymous" || last.Name != "Anonymous access" || len(last.Apps) != 1 || last.Apps[0].ID != "kpis" {
		t.Fatalf("members as bob: %s", r.Body)
	}
	wantAPI(t, "bob turns it off", g.api(t, c, "bob", "PUT", "/apps/"+last.Apps[0].ID+"/anonymous-access", `{"enabled":false}`), 200)
	wantStatus(t, "the link while off", g.redeem(t, visitor, "POST", "kpis", url.Values{"code": {newCode}}), 403)
	r = g.api(t, c, "bob", "GET", "/spaces/public/members", "")
	members = nil
	decodeJSON(t, r, &members)
	if !strings.Contains(string(r.Body), `"apps":[]`) {
		t.Fatalf("the anonymous member without apps: %s", r.Body)
	}
	if n := len(members[len(members)-1].Apps); n != 0 {
		t.Fatalf("anonymous member still reaches %d apps: %s", n, r.Body)
	}

	// 8. Provisioned apps: anonymous access can change, the definition
	// cannot. alice owns stats but has no Public link creation.
	wantAPI(t, "edit a provisioned app", g.api(t, c, "alice", "PUT", "/apps/market", `{"entry":"/x","scope":["/x"]}`), 409)
	wantAPI(t, "delete a provisioned app", g.api(t, c, "alice", "DELETE", "/apps/market", ""), 409)
	wantAPI(t, "alice turns market off", g.api(t, c, "alice", "PUT", "/apps/market/anonymous-access", `{"enabled":false}`), 403)
	if a := app("alice", "market"); !a.AnonymousAccess || !a.Provisioned {
		t.Fatalf("market: %+v", a)
	}

	// 9. Capacity for tenant and analytics admins only.
	wantAPI(t, "alice reads capacity", g.api(t, c, "alice", "GET", "/capacity", ""), 200)
	wantAPI(t, "carol reads capacity", g.api(t, c, "carol", "GET", "/capacity", ""), 200)
	wantAPI(t, "bob reads capacity", g.api(t, c, "bob", "GET", "/capacity", ""), 403)

	// 10. The audit log: every change, who and from where, never a code.
	wantAPI(t, "bob reads the audit log", g.api(t, c, "bob", "GET", "/audit", ""), 403)
	var page struct {
		Entries []struct {
			ID                             uint64
			Actor, From, Action, App, User string
		}
		NextBefore uint64 `json:"next_before"`
	}
	r = g.api(t, c, "alice", "GET", "/audit?limit=100", "")
	wantAPI(t, "alice reads the audit log", r, 200)
	decodeJSON(t, r, &page)
	var got []string
	for i := len(page.Entries) - 1; i >= 0; i-- {
		e := page.Entries[i]
		got = append(got, e.Actor+":"+e.Action)
		if e.From != c.ip {
			t.Fatalf("entry %+v: from %q, want %s", e, e.From, c.ip)
		}
	}
	want := "alice:create_role alice:assign_roles alice:create_space alice:set_member alice:set_member bob:publish_app bob:set_anonymous_access bob:reset_code bob:set_anonymous_access"
	if strings.Join(got, " ") != want {
		t.Fatalf("audit log:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	r2 := g.api(t, c, "alice", "GET", "/audit?limit=3", "")
	decodeJSON(t, r2, &page)
	if len(page.Entries) != 3 || page.NextBefore == 0 {
		t.Fatalf("first page of 3: %s", r2.Body)
	}
	r2 = g.api(t, c, "alice", "GET", "/audit?limit=3&before="+strconv.FormatUint(page.NextBefore, 10), "")
	decodeJSON(t, r2, &page)
	if len(page.Entries) != 3 || page.Entries[0].Action != "publish_app" || page.Entries[2].Action != "set_member" {
		t.Fatalf("second page of 3: %s", r2.Body)
	}
	logs := g.stderr.String()
	for _, secret := range []string{oldCode, newCode} {
		if strings.Contains(string(r.Body), secret) || strings.Contains(logs, secret) {
			t.Fatal("an access code reached the audit log or the server log")
		}
	}
	if !strings.Contains(logs, `"msg":"audit"`) || !strings.Contains(logs, `"action":"reset_code"`) {
		t.Fatalf("no structured audit lines in the log:\n%s", logs)
	}
}
