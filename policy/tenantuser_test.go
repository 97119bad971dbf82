package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// newUserFixture is the tenant fixture with alice as configured tenant
// admin and carol as configured analytics admin; the provisioned space
// stats is olivia's.
func newUserFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, 10)
	f.config.Admins = policy.Admins{Tenant: map[string]bool{"alice": true}, Analytics: map[string]bool{"carol": true}}
	if err := f.t.Register(context.Background(), f, f.registration()); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) as(user string) policy.TenantUser {
	return f.t.As(policy.Caller{User: user, From: "192.0.2.9"})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

// TestTenantUserWorkflow walks the README's workflow through the domain:
// a managed space, members, a published app, the permission, sharing,
// copying, resetting and turning off, with each forbidden step refused
// and changing nothing.
func TestTenantUserWorkflow(t *testing.T) {
	f := newUserFixture(t)
	ctx := context.Background()
	alice, bob, dora, eve := f.as("alice"), f.as("bob"), f.as("dora"), f.as("eve")

	_, err := eve.CreateSpace(ctx, policy.Space{ID: "pub", Type: policy.SpaceManaged})
	wantErr(t, "a plain user creates a managed space", err, policy.ErrForbidden)
	_, err = alice.CreateSpace(ctx, policy.Space{ID: "pub", Name: "Public", Type: policy.SpaceManaged})
	must(t, err)
	_, err = alice.CreateSpace(ctx, policy.Space{ID: "pub", Type: policy.SpaceShared})
	wantErr(t, "second space pub", err, policy.ErrSpaceExists)
	_, err = eve.SetMember(ctx, "pub", "eve", policy.SpaceCanManage)
	wantErr(t, "eve adds herself", err, policy.ErrForbidden)
	m, err := alice.SetMember(ctx, "pub", "bob", policy.SpaceCanManage)
	must(t, err)
	if m.Type != "user" || m.User != "bob" || m.Role != policy.SpaceCanManage {
		t.Fatalf("SetMember returned %+v", m)
	}
	_, err = alice.SetMember(ctx, "pub", "dora", policy.SpaceCanView)
	must(t, err)
	_, err = alice.SetMember(ctx, "pub", "bob", policy.SpaceOwner)
	wantErr(t, "make bob owner", err, policy.ErrOwner)

	app := policy.App{ID: "sales", Name: "Sales", Entry: "/sales/index.html", Scope: []string{"/sales/*"}}
	_, err = dora.Publish(ctx, "pub", app)
	wantErr(t, "can_view publishes", err, policy.ErrForbidden)
	_, err = bob.Publish(ctx, "pub", app)
	must(t, err)
	_, err = bob.Publish(ctx, "pub", app)
	wantErr(t, "publish twice", err, policy.ErrAppExists)

	// Public link creation is denied by default, for admins too.
	_, err = bob.SetAnonymousAccess(ctx, "sales", true)
	wantErr(t, "bob shares without the permission", err, policy.ErrForbidden)
	_, err = alice.SetAnonymousAccess(ctx, "sales", true)
	wantErr(t, "alice owns pub but lacks Public link creation", err, policy.ErrForbidden)
	wantErr(t, "bob creates a role", bob.CreateRole(ctx, policy.Role{Name: "Publishers", PublicLinkCreation: policy.GrantAllowed}), policy.ErrForbidden)
	must(t, alice.CreateRole(ctx, policy.Role{Name: "Publishers", PublicLinkCreation: policy.GrantAllowed}))
	wantErr(t, "same role again", alice.CreateRole(ctx, policy.Role{Name: "publishers"}), policy.ErrRoleExists)
	roles, err := alice.AssignRoles(ctx, "bob", []string{"Publishers", "Publishers"})
	must(t, err)
	if len(roles) != 1 || roles[0] != "Publishers" {
		t.Fatalf("AssignRoles returned %q, want the stored [Publishers]", roles)
	}
	me, err := bob.Me(ctx)
	must(t, err)
	if me.PublicLinkCreation != policy.GrantAllowed || len(me.Spaces) != 1 || me.Spaces[0].Role != policy.SpaceCanManage || !me.Spaces[0].Can[policy.ActSetAnonymousAccess] {
		t.Fatalf("bob's me: %+v", me)
	}
	for user, want := range map[string]bool{"bob": true, "dora": false} {
		spaces, err := f.as(user).Spaces(ctx)
		must(t, err)
		if len(spaces) != 1 || spaces[0].Can[policy.ActManageMembers] != want || spaces[0].Can[policy.ActSetAnonymousAccess] != want {
			t.Fatalf("%s's spaces: %+v", user, spaces)
		}
	}

	if v, err := bob.SetAnonymousAccess(ctx, "sales", true); err != nil || !v.AnonymousAccess {
		t.Fatalf("bob shares: %+v %v", v, err)
	}
	link, err := dora.Link(ctx, "sales")
	must(t, err)
	_, err = dora.SetAnonymousAccess(ctx, "sales", false)
	wantErr(t, "can_view turns off", err, policy.ErrForbidden)
	_, _, err = dora.EmbedCode(ctx, "sales", policy.LinkOptions{})
	wantErr(t, "can_view copies the embed code", err, policy.ErrForbidden)
	_, err = dora.ResetCode(ctx, "sales")
	wantErr(t, "can_view resets", err, policy.ErrForbidden)
	_, err = eve.Link(ctx, "sales")
	wantErr(t, "non-member copies the link", err, policy.ErrForbidden)
	if again, _ := f.t.Link("sales"); again != link {
		t.Fatal("a refused reset changed the code")
	}
	if _, _, err := bob.EmbedCode(ctx, "sales", policy.LinkOptions{}); err != nil {
		t.Fatal(err)
	}

	// The anonymous member: owners and managers see it, viewers do not.
	ms, err := bob.Members(ctx, "pub")
	must(t, err)
	anon := ms[len(ms)-1]
	if anon.Type != "anonymous" || anon.Name != "Anonymous access" || len(anon.Apps) != 1 || anon.Apps[0].ID != "sales" {
		t.Fatalf("members as bob: %+v", ms)
	}
	if ms[0].User != "alice" || ms[0].Role != policy.SpaceOwner {
		t.Fatalf("owner first: %+v", ms)
	}
	ms, err = dora.Members(ctx, "pub")
	must(t, err)
	for _, m := range ms {
		if m.Type == "anonymous" {
			t.Fatalf("can_view sees the anonymous member: %+v", ms)
		}
	}

	oldCode := f.code(t, "sales")
	o, err := f.t.Redeem(ctx, policy.Redemption{App: "sales", Code: oldCode, Client: "198.51.100.1"})
	must(t, err)
	_, err = bob.ResetCode(ctx, "sales")
	must(t, err)
	_, err = f.t.Redeem(ctx, policy.Redemption{App: "sales", Code: oldCode, Client: "198.51.100.1"})
	wantErr(t, "old code after reset", err, policy.ErrDenied)
	_, err = f.t.Authorize(o.Token, "GET", "/sales/index.html")
	wantErr(t, "session from before the reset", err, policy.ErrRevoked)
	newCode := f.code(t, "sales")

	// Turned off from the members view: the same call.
	_, err = bob.SetAnonymousAccess(ctx, "sales", false)
	must(t, err)
	_, err = dora.Link(ctx, "sales")
	wantErr(t, "link while off", err, policy.ErrOff)

	// The audit log: every change, in order, never a code.
	_, err = bob.AuditLog(ctx, 0, 10)
	wantErr(t, "bob reads the audit log", err, policy.ErrForbidden)
	logPage, err := alice.AuditLog(ctx, 0, 100)
	must(t, err)
	log := logPage.Entries
	var actions []string
	for i := len(log) - 1; i >= 0; i-- {
		actions = append(actions, log[i].Actor+":"+log[i].Action)
		if log[i].From != "192.0.2.9" || log[i].Time.IsZero() {
			t.Fatalf("entry without where or when: %+v", log[i])
		}
		if log[i].Label != policy.AuditLabel(log[i].Action) || log[i].Label == log[i].Action {
			t.Fatalf("entry without its action in words: %+v", log[i])
		}
	}
	want := "alice:create_space alice:set_member alice:set_member bob:publish_app alice:create_role alice:assign_roles bob:set_anonymous_access bob:reset_code bob:set_anonymous_access"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit log:\n got %s\nwant %s", strings.Join(actions, " "), want)
	}
	raw, _ := json.Marshal(log)
	if strings.Contains(string(raw), oldCode) || strings.Contains(string(raw), newCode) {
		t.Fatal("an access code reached the audit log")
	}
	pageOf2, err := alice.AuditLog(ctx, log[2].ID, 2)
	must(t, err)
	page := pageOf2.Entries
	if len(page) != 2 || page[0].ID != log[3].ID || page[1].ID != log[4].ID {
		t.Fatalf("page before %d: %+v", log[2].ID, page)
	}
}

// TestProvisionedApps checks that an app from the configuration cannot be
// edited or deleted through the management API, but its anonymous access
// can be changed by whoever manages its space.
func TestProvisionedApps(t *testing.T) {
	f := newUserFixture(t)
	ctx := context.Background()
	olivia := f.as("olivia")
	must(t, f.as("alice").SetUserDefault(ctx, policy.GrantAllowed))
	_, err := olivia.Edit(ctx, "market", policy.App{Entry: "/x", Scope: []string{"/x"}})
	wantErr(t, "edit a provisioned app", err, policy.ErrProvisioned)
	wantErr(t, "delete a provisioned app", olivia.Delete(ctx, "market"), policy.ErrProvisioned)
	if _, err := olivia.SetAnonymousAccess(ctx, "market", false); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.t.App("market"); a.AnonymousAccess || a.Entry != testApp.Entry {
		t.Fatalf("market after: %+v", a)
	}
}

// TestResetRacingToggle runs resets and toggles of one app at once: the
// stored state stays whole and the served view matches it.
func TestResetRacingToggle(t *testing.T) {
	f := newUserFixture(t)
	ctx := context.Background()
	must(t, f.as("alice").SetUserDefault(ctx, policy.GrantAllowed))
	olivia := f.as("olivia")
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = olivia.ResetCode(ctx, "market") }()
		go func(on bool) { defer wg.Done(); _, _ = olivia.SetAnonymousAccess(ctx, "market", on) }(i%2 == 0)
	}
	wg.Wait()
	must(t, f.t.Refresh(ctx))
	recs, err := f.store.Apps(ctx)
	must(t, err)
	for _, r := range recs {
		if r.ID != "market" {
			continue
		}
		if r.Version < 21 || len(r.Code) < 40 {
			t.Fatalf("stored market after the race: version %d, code length %d", r.Version, len(r.Code))
		}
		_, err := f.t.Redeem(ctx, policy.Redemption{App: "market", Code: r.Code, Client: "198.51.100.2"})
		if r.AnonymousAccess != (err == nil) {
			t.Fatalf("stored on=%v but redeeming the stored code gives %v", r.AnonymousAccess, err)
		}
	}
}

// TestCapacityHistory checks the last hour of usage: one point per minute
// with the most sessions seen in it, older minutes dropped.
func TestCapacityHistory(t *testing.T) {
	f := newUserFixture(t)
	ctx := context.Background()
	rep, err := f.t.Capacity(ctx)
	must(t, err)
	if len(rep.History) != 1 || rep.History[0].Active != 0 {
		t.Fatalf("history at start: %+v", rep.History)
	}
	f.open1(t)
	f.open1(t)
	f.clock.Advance(10 * time.Second)
	rep, _ = f.t.Capacity(ctx)
	if n := len(rep.History); n != 1 || rep.History[0].Active != 2 {
		t.Fatalf("history after two sessions in the same minute: %+v", rep.History)
	}
	f.clock.Advance(30 * time.Minute)
	f.open1(t)
	rep, _ = f.t.Capacity(ctx)
	// The first two sessions have ended (15 minutes); one is live.
	if n := len(rep.History); n != 2 || rep.History[1].Active != 1 || !rep.History[0].Time.Before(rep.History[1].Time) {
		t.Fatalf("history half an hour later: %+v", rep.History)
	}
	f.clock.Advance(45 * time.Minute)
	rep, _ = f.t.Capacity(ctx)
	if n := len(rep.History); n != 2 || rep.History[0].Active != 1 || rep.History[1].Active != 0 {
		t.Fatalf("history after the first hour passed: %+v", rep.History)
	}
}

// TestTenantUserDetails: what the sharing dialog relies on beyond the
// matrix.
func TestTenantUserDetails(t *testing.T) {
	f := newUserFixture(t)
	ctx := context.Background()
	alice, olivia := f.as("alice"), f.as("olivia")
	must(t, alice.SetUserDefault(ctx, policy.GrantAllowed))

	// An app in a shared space cannot be turned on, and says so.
	lab, err := alice.CreateSpace(ctx, policy.Space{ID: "lab", Type: policy.SpaceShared})
	must(t, err)
	if !lab.Can[policy.ActManageMembers] || !lab.Can[policy.ActPublishApp] || lab.Can[policy.ActSetAnonymousAccess] {
		t.Fatalf("can in a shared space its creator owns: %v", lab.Can)
	}
	v, err := alice.Publish(ctx, "lab", policy.App{ID: "lab-app", Entry: "/lab/", Scope: []string{"/lab/*"}})
	must(t, err)
	if v.Can[policy.ActSetAnonymousAccess] || !v.Can[policy.ActEditApp] {
		t.Fatalf("can on an app of a shared space: %v", v.Can)
	}
	_, err = alice.SetAnonymousAccess(ctx, "lab-app", true)
	wantErr(t, "turning on in a shared space", err, policy.ErrNotManaged)
	if v, _ := olivia.App(ctx, "market"); !v.Can[policy.ActSetAnonymousAccess] || !v.Can[policy.ActCopyEmbedCode] || v.Can[policy.ActEditApp] {
		t.Fatalf("can on a provisioned app of a managed space: %v", v.Can)
	}

	// A role change keeps what it leaves out.
	must(t, alice.CreateRole(ctx, policy.Role{Name: "Ops", Description: "On call", PublicLinkCreation: policy.GrantDenied}))
	r, err := alice.UpdateRole(ctx, "Ops", policy.RoleChange{PublicLinkCreation: policy.GrantAllowed})
	must(t, err)
	if r.Description != "On call" || r.PublicLinkCreation != policy.GrantAllowed {
		t.Fatalf("role after a permission change: %+v", r)
	}
	_, err = alice.UpdateRole(ctx, "Nobody", policy.RoleChange{PublicLinkCreation: policy.GrantAllowed})
	wantErr(t, "unknown role", err, policy.ErrUnknownRole)

	// The embed code's size is pixels or a percentage.
	for _, bad := range []policy.LinkOptions{{Width: "wide"}, {Height: "0"}, {Width: "80vw"}, {Height: "-5"}} {
		if _, _, err := olivia.EmbedCode(ctx, "market", bad); err == nil {
			t.Errorf("embed code with %+v accepted", bad)
		}
	}
	if html, _, err := olivia.EmbedCode(ctx, "market", policy.LinkOptions{Width: "100%", Height: "480"}); err != nil || !strings.Contains(html, `width="100%" height="480"`) {
		t.Fatalf("embed code 100%%×480: %v %s", err, html)
	}
}

func TestAuditLimit(t *testing.T) {
	for s, want := range map[string]int{"": policy.DefaultAuditPage, "1": 1, "1000": 1000, "0": -1, "1001": -1, "-5": -1, "ten": -1, "5.0": -1} {
		n, err := policy.AuditLimit(s)
		var ie *policy.InvalidError
		switch {
		case want < 0 && (!errors.As(err, &ie) || ie.Field != "limit"):
			t.Errorf("AuditLimit(%q) = %d, %v; want a limit error", s, n, err)
		case want >= 0 && (err != nil || n != want):
			t.Errorf("AuditLimit(%q) = %d, %v; want %d", s, n, err, want)
		}
	}
}
