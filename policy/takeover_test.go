package policy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

var salesApp = policy.App{ID: "sales", Name: "Sales", Entry: "/sales/index.html", Scope: []string{"/sales/*"}}

// publishSales has olivia, owner of the managed space stats, publish the
// app sales through the API, turn it on and open it once.
func publishSales(t *testing.T, f *fixture) policy.Opened {
	t.Helper()
	ctx := context.Background()
	olivia := f.as("olivia")
	_, err := olivia.Publish(ctx, "stats", salesApp)
	must(t, err)
	_, err = olivia.SetAnonymousAccess(ctx, "sales", true)
	must(t, err)
	o, err := f.t.Redeem(ctx, policy.Redemption{App: "sales", Code: f.code(t, "sales")})
	must(t, err)
	return o
}

// wantDead checks that a session of an app incarnation that ended neither
// counts nor renews, now or once expired.
func wantDead(t *testing.T, f *fixture, o policy.Opened, path string) {
	t.Helper()
	if _, err := f.t.Authorize(o.Token, "GET", path); !errors.Is(err, policy.ErrRevoked) {
		t.Fatalf("old session: %v, want ErrRevoked", err)
	}
	f.clock.Advance(16 * time.Minute)
	if _, err := f.t.Renew(context.Background(), o.Token, "GET", path, ""); err == nil {
		t.Fatal("an old session renewed")
	}
}

// TestDeletedAndPublishedAgainNeverRevivesSessions: an app deleted and
// published again under the same id, the same way, is a new app; the old
// one's sessions stay dead.
func TestDeletedAndPublishedAgainNeverRevivesSessions(t *testing.T) {
	f := newUserFixture(t)
	ctx := context.Background()
	must(t, f.as("alice").SetUserDefault(ctx, policy.GrantAllowed))
	old := publishSales(t, f)
	must(t, f.as("olivia").Delete(ctx, "sales"))
	publishSales(t, f)
	wantDead(t, f, old, "/sales/index.html")
}

// TestConfigTakesOverAPublishedApp: a provisioned app whose id a tenant
// user already published takes it over with a new code, a new version
// and the configuration's initial state, and says so in the audit log.
func TestConfigTakesOverAPublishedApp(t *testing.T) {
	f := newUserFixture(t)
	ctx := context.Background()
	must(t, f.as("alice").SetUserDefault(ctx, policy.GrantAllowed))
	old := publishSales(t, f)
	oldCode := f.code(t, "sales")
	reg := f.registration()
	def := salesApp
	def.Space, def.Scope = "stats", []string{"/sales/public/*"}
	def.Entry = "/sales/public/index.html"
	reg.Apps = append(reg.Apps, policy.ProvisionedApp{App: def})
	must(t, f.t.Register(ctx, f, reg))

	a, err := f.t.App("sales")
	must(t, err)
	if !a.Provisioned || a.AnonymousAccess || a.Scope[0] != "/sales/public/*" {
		t.Fatalf("after the configuration took over: %+v", a)
	}
	if _, err := f.t.Redeem(ctx, policy.Redemption{App: "sales", Code: oldCode}); !errors.Is(err, policy.ErrDenied) {
		t.Fatalf("the published app's code: %v, want ErrDenied", err)
	}
	page, err := f.as("alice").AuditLog(ctx, 0, 10)
	must(t, err)
	if e := page.Entries[0]; e.Action != policy.AuditTakeOverApp || e.Actor != policy.ConfigActor || e.App != "sales" || strings.Contains(e.Value, oldCode) {
		t.Fatalf("newest audit entry %+v", e)
	}
	_, err = f.t.AsOperator("192.0.2.9").SetAnonymousAccess(ctx, "sales", true)
	must(t, err)
	wantDead(t, f, old, "/sales/public/index.html")
}

// TestConfigDroppingAndAddingBackNeverRevivesSessions: a reload without an
// app retires it; a later reload with it back is a new incarnation.
func TestConfigDroppingAndAddingBackNeverRevivesSessions(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	old := f.open1(t)
	oldCode := f.code(t, "market")
	without := f.registration()
	without.Apps = without.Apps[1:] // market is first
	must(t, f.t.Register(ctx, f, without))
	if _, err := f.t.Authorize(old.Token, "GET", "/dash/market.html"); !errors.Is(err, policy.ErrRevoked) {
		t.Fatalf("while dropped: %v, want ErrRevoked", err)
	}
	must(t, f.t.Register(ctx, f, f.registration()))
	if f.code(t, "market") == oldCode {
		t.Fatal("the app came back with its old access code")
	}
	wantDead(t, f, old, "/dash/market.html")
}

// TestRestartKeepsProvisionedSessions: closing the last configuration (a
// shutdown) retires nothing, so a restart keeps every session.
func TestRestartKeepsProvisionedSessions(t *testing.T) {
	f := newFixture(t, 10)
	o := f.open1(t)
	f.t.Unregister(f)
	f.restart(t)
	if _, err := f.t.Authorize(o.Token, "GET", "/dash/market.html"); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
}
