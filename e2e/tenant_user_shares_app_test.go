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
// checks that each forbidden step is 403 and changes nothing. Each step
// builds on the ones before it; the first that fails ends the walk.
func TestE2EManagementWorkflow(t *testing.T) {
	w := &workflow{g: startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{}), c: newClient(t)}
	for _, step := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"1 the permission", w.permission},
		{"2 a managed space", w.space},
		{"3 publish an app", w.publish},
		{"4 turn anonymous access on", w.turnOn},
		{"5 copy the link and the embed code", w.copyLink},
		{"6 reset the code", w.resetCode},
		{"7 the members view", w.membersView},
		{"8 provisioned apps", w.provisionedApps},
		{"9 capacity", w.capacity},
		{"10 the audit log", w.auditLog},
	} {
		if !t.Run(step.name, step.run) {
			return
		}
	}
}

// workflow is the state the steps of TestE2EManagementWorkflow share.
type workflow struct {
	g       *gateway
	c       *client // the tenant users'
	visitor *client // an anonymous viewer's
	session session // the visitor's, from the first link
	oldCode string  // the first link's code
	newCode string  // the code after the reset
}

// app reads an app as user sees it.
func (w *workflow) app(t *testing.T, user, id string) appJSON {
	t.Helper()
	var a appJSON
	r := w.g.api(t, w.c, user, "GET", "/apps/"+id, "")
	wantAPI(t, "GET app "+id, r, 200)
	decodeJSON(t, r, &a)
	return a
}

// permission: Public link creation is denied for everyone until a tenant
// admin says otherwise.
func (w *workflow) permission(t *testing.T) {
	g, c := w.g, w.c
	wantAPI(t, "bob sets User Default", g.api(t, c, "bob", "PUT", "/roles/user-default", `{"public_link_creation":"allowed"}`), 403)
	var roles []roleJSON
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
}

// space: a managed space and its members.
func (w *workflow) space(t *testing.T) {
	g, c := w.g, w.c
	wantAPI(t, "eve creates a managed space", g.api(t, c, "eve", "POST", "/spaces", `{"id":"public","name":"Public","type":"managed"}`), 403)
	wantAPI(t, "alice creates a managed space", g.api(t, c, "alice", "POST", "/spaces", `{"id":"public","name":"Public dashboards","type":"managed"}`), 201)
	wantAPI(t, "eve joins as manager", g.api(t, c, "eve", "PUT", "/spaces/public/members/eve", `{"role":"can_manage"}`), 403)
	wantAPI(t, "bob as can_manage", g.api(t, c, "alice", "PUT", "/spaces/public/members/bob", `{"role":"can_manage"}`), 200)
	wantAPI(t, "dora as can_view", g.api(t, c, "alice", "PUT", "/spaces/public/members/dora", `{"role":"can_view"}`), 200)
	wantAPI(t, "eve lists members", g.api(t, c, "eve", "GET", "/spaces/public/members", ""), 403)
}

// publish: a manager publishes an app; a viewer of the space cannot.
func (w *workflow) publish(t *testing.T) {
	g, c := w.g, w.c
	const kpis = `{"id":"kpis","name":"KPIs","entry":"/dashboards/market.html","scope":["/dashboards/market*","/assets/*"]}`
	wantAPI(t, "dora publishes", g.api(t, c, "dora", "POST", "/spaces/public/apps", kpis), 403)
	wantAPI(t, "kpis after dora's try", g.api(t, c, "bob", "GET", "/apps/kpis", ""), 404)
	wantAPI(t, "bob publishes", g.api(t, c, "bob", "POST", "/spaces/public/apps", kpis), 201)
	wantAPI(t, "bob publishes again", g.api(t, c, "bob", "POST", "/spaces/public/apps", kpis), 409)
	if a := w.app(t, "dora", "kpis"); a.AnonymousAccess || a.Provisioned || a.Can["set_anonymous_access"] || a.Can["copy_link"] {
		t.Fatalf("kpis as dora: %+v", a)
	}
}

// turnOn: anonymous access goes on by a manager with the permission only.
func (w *workflow) turnOn(t *testing.T) {
	g, c := w.g, w.c
	wantAPI(t, "dora turns it on", g.api(t, c, "dora", "PUT", "/apps/kpis/anonymous-access", `{"enabled":true}`), 403)
	if w.app(t, "bob", "kpis").AnonymousAccess {
		t.Fatal("dora's refused toggle turned kpis on")
	}
	wantAPI(t, "link while off", g.api(t, c, "dora", "GET", "/apps/kpis/link", ""), 409)
	wantAPI(t, "bob turns it on", g.api(t, c, "bob", "PUT", "/apps/kpis/anonymous-access", `{"enabled":true}`), 200)
}

// copyLink: copy the link (any space role) and the embed code (managers
// with the permission); the link opens the dashboard for anyone.
func (w *workflow) copyLink(t *testing.T) {
	g, c := w.g, w.c
	var link struct{ URL string }
	r := g.api(t, c, "dora", "GET", "/apps/kpis/link", "")
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
	w.visitor = newClient(t)
	w.oldCode = codeOf(t, link.URL)
	w.session = g.open(t, w.visitor, "kpis", w.oldCode)
	wantStatus(t, "the dashboard through the link", getWith(t, w.visitor, g, w.session, "/dashboards/market.html"), 200)
}

// resetCode: only managers with the permission reset the code; the old
// link and its sessions die.
func (w *workflow) resetCode(t *testing.T) {
	g, c, visitor := w.g, w.c, w.visitor
	wantAPI(t, "dora resets", g.api(t, c, "dora", "POST", "/apps/kpis/anonymous-access/reset-code", ""), 403)
	wantStatus(t, "old link after dora's try", g.redeem(t, visitor, "POST", "kpis", url.Values{"code": {w.oldCode}}), http.StatusSeeOther)
	wantAPI(t, "bob resets", g.api(t, c, "bob", "POST", "/apps/kpis/anonymous-access/reset-code", ""), 200)
	wantStatus(t, "old link after the reset", g.redeem(t, visitor, "POST", "kpis", url.Values{"code": {w.oldCode}}), 403)
	wantStatus(t, "session from before the reset", getWith(t, visitor, g, w.session, "/dashboards/market.html"), 401)
	var link struct{ URL string }
	r := g.api(t, c, "dora", "GET", "/apps/kpis/link", "")
	decodeJSON(t, r, &link)
	w.newCode = codeOf(t, link.URL)
	if w.newCode == w.oldCode {
		t.Fatal("the reset kept the code")
	}
}

// membersView: owners and managers see "Anonymous access" with the app
// among a space's members, and turn it off from there.
func (w *workflow) membersView(t *testing.T) {
	g, c := w.g, w.c
	var members []memberJSON
	r := g.api(t, c, "dora", "GET", "/spaces/public/members", "")
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
	wantStatus(t, "the link while off", g.redeem(t, w.visitor, "POST", "kpis", url.Values{"code": {w.newCode}}), 403)
	r = g.api(t, c, "bob", "GET", "/spaces/public/members", "")
	members = nil
	decodeJSON(t, r, &members)
	if !strings.Contains(string(r.Body), `"apps":[]`) {
		t.Fatalf("the anonymous member without apps: %s", r.Body)
	}
	if n := len(members[len(members)-1].Apps); n != 0 {
		t.Fatalf("anonymous member still reaches %d apps: %s", n, r.Body)
	}
}

// provisionedApps: anonymous access of a provisioned app can change, its
// definition cannot. alice owns stats but has no Public link creation.
func (w *workflow) provisionedApps(t *testing.T) {
	g, c := w.g, w.c
	wantAPI(t, "edit a provisioned app", g.api(t, c, "alice", "PUT", "/apps/market", `{"entry":"/x","scope":["/x"]}`), 409)
	wantAPI(t, "delete a provisioned app", g.api(t, c, "alice", "DELETE", "/apps/market", ""), 409)
	wantAPI(t, "alice turns market off", g.api(t, c, "alice", "PUT", "/apps/market/anonymous-access", `{"enabled":false}`), 403)
	if a := w.app(t, "alice", "market"); !a.AnonymousAccess || !a.Provisioned {
		t.Fatalf("market: %+v", a)
	}
}

// capacity is for tenant and analytics admins only.
func (w *workflow) capacity(t *testing.T) {
	g, c := w.g, w.c
	wantAPI(t, "alice reads capacity", g.api(t, c, "alice", "GET", "/capacity", ""), 200)
	wantAPI(t, "carol reads capacity", g.api(t, c, "carol", "GET", "/capacity", ""), 200)
	wantAPI(t, "bob reads capacity", g.api(t, c, "bob", "GET", "/capacity", ""), 403)
}

// auditLog: every change, who and from where, in pages, never a code; the
// server log has the same entries.
func (w *workflow) auditLog(t *testing.T) {
	g, c := w.g, w.c
	wantAPI(t, "bob reads the audit log", g.api(t, c, "bob", "GET", "/audit", ""), 403)
	var page struct {
		Entries []struct {
			ID                             uint64
			Actor, From, Action, App, User string
		}
		NextBefore uint64 `json:"next_before"`
	}
	r := g.api(t, c, "alice", "GET", "/audit?limit=100", "")
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
	for _, secret := range []string{w.oldCode, w.newCode} {
		if strings.Contains(string(r.Body), secret) || strings.Contains(logs, secret) {
			t.Fatal("an access code reached the audit log or the server log")
		}
	}
	if !strings.Contains(logs, `"msg":"audit"`) || !strings.Contains(logs, `"action":"reset_code"`) {
		t.Fatalf("no structured audit lines in the log:\n%s", logs)
	}
}
