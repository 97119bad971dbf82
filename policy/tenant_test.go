package policy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/anonaccess/caddy-anonymous-access/policy/boltstore"
	"github.com/anonaccess/caddy-anonymous-access/policy/policytest"
)

type fixture struct {
	t      *policy.Tenant
	clock  *policytest.Clock
	store  *boltstore.Store
	db     *boltstore.DB
	path   string
	name   string
	config policy.TenantConfig
}

var testApp = policy.App{
	ID: "market", Name: "Market trends", Space: "stats", Entry: "/dash/market.html",
	Scope: []string{"/dash/market*", "/assets/*"}, Deny: []string{"/assets/secret/*"},
}

func newFixture(tb testing.TB, capacity int) *fixture {
	tb.Helper()
	f := &fixture{clock: policytest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), path: tb.TempDir() + "/state.db", name: "acme"}
	f.config = policy.TenantConfig{
		Capacity: capacity, SessionTTL: 15 * time.Minute, RenewalWindow: 12 * time.Hour,
		PublicURL: "https://share.example.com", Prefix: "/_anon",
	}
	f.open(tb)
	tb.Cleanup(f.close)
	return f
}

func (f *fixture) registration() policy.Registration {
	return policy.Registration{
		Config: f.config,
		Spaces: []policy.Space{{ID: "stats", Name: "Stats", Type: policy.SpaceManaged, Owner: "olivia"}, {ID: "team", Name: "Team", Type: policy.SpaceShared}},
		Apps: []policy.ProvisionedApp{{App: testApp, InitiallyOn: true},
			{App: policy.App{ID: "notes", Space: "team", Entry: "/notes", Scope: []string{"/notes"}}}},
	}
}

func (f *fixture) open(tb testing.TB) {
	tb.Helper()
	db, err := boltstore.Open(f.path, time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := db.Tenant(f.name, f.clock.Now)
	if err != nil {
		tb.Fatal(err)
	}
	t, err := policy.NewTenant(policy.TenantOptions{Name: f.name, Store: st, Now: f.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	f.db, f.store, f.t = db, st, t
	if err := t.Register(context.Background(), f, f.registration()); err != nil {
		tb.Fatal(err)
	}
}

func (f *fixture) close() {
	if f.t == nil {
		return
	}
	f.t.Close()
	_ = f.store.Close()
	_ = f.db.Close()
	f.t = nil
}

// restart closes everything and opens the same file again, as a Caddy
// restart does.
func (f *fixture) restart(tb testing.TB) {
	f.close()
	f.open(tb)
}

func (f *fixture) code(tb testing.TB, app string) string {
	tb.Helper()
	link, err := f.t.Link(app)
	if err != nil {
		tb.Fatal(err)
	}
	_, code, _ := strings.Cut(link, "#code=")
	return code
}

func (f *fixture) open1(tb testing.TB) policy.Opened {
	tb.Helper()
	o, err := f.t.Redeem(context.Background(), policy.Redemption{App: "market", Code: f.code(tb, "market"), Client: "192.0.2.1"})
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func TestRestartKeepsStateAndSessions(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	o := f.open1(t)
	if _, err := f.t.AsOperator("192.0.2.9").ResetCode(ctx, "market"); err != nil {
		t.Fatal(err)
	}
	code := f.code(t, "market")
	o2 := f.open1(t)
	f.restart(t)
	if got := f.code(t, "market"); got != code {
		t.Fatal("the access code changed across a restart")
	}
	if _, err := f.t.Authorize(o2.Token, "GET", "/dash/market.html"); err != nil {
		t.Fatalf("session after restart: %v", err)
	}
	if _, err := f.t.Authorize(o.Token, "GET", "/dash/market.html"); err != policy.ErrRevoked {
		t.Fatalf("reset session after restart: got %v, want ErrRevoked", err)
	}
	if rep, _ := f.t.Capacity(ctx); rep.Active != 1 || rep.Peak != 1 {
		t.Fatalf("sessions after restart: %+v, want 1 active", rep)
	}
}

func TestUnregisteredProvisionedAppIsNotServed(t *testing.T) {
	f := newFixture(t, 10)
	o := f.open1(t)
	f.t.Unregister(f)
	if _, err := f.t.Authorize(o.Token, "GET", "/dash/market.html"); err != policy.ErrRevoked {
		t.Fatalf("app removed from config: got %v, want ErrRevoked", err)
	}
	if _, err := f.t.Link("market"); err != policy.ErrUnknownApp {
		t.Fatalf("link of a removed app: %v", err)
	}
}

// TestFailedReloadChangesNothing registers a second configuration over a
// live one, as a reload does, then takes it away, as Caddy does when the
// new config fails: the running configuration must be in force again.
func TestFailedReloadChangesNothing(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	o := f.open1(t)
	next := f.registration()
	next.Config.Capacity = 1
	next.Apps[0].Scope = []string{"/dash/market*", "/assets/*", "/secret.html"}
	next.Apps[0].InitiallyOn = false
	next.SigningKey = []byte("a brand new signing key, 32 byte")
	newcomer := new(int)
	if err := f.t.Register(ctx, newcomer, next); err != nil {
		t.Fatal(err)
	}
	if _, err := f.t.Authorize(o.Token, "GET", "/secret.html"); err != policy.ErrInvalidToken {
		t.Fatalf("while the new config is in force: %v", err)
	}
	f.t.Unregister(newcomer)
	if rep, _ := f.t.Capacity(ctx); rep.Capacity != 10 {
		t.Fatalf("capacity %d after the failed reload, want 10", rep.Capacity)
	}
	if _, err := f.t.Authorize(o.Token, "GET", "/secret.html"); err != policy.ErrOutOfScope {
		t.Fatalf("scope after the failed reload: %v, want ErrOutOfScope", err)
	}
	if _, err := f.t.Authorize(o.Token, "GET", "/dash/market.html"); err != nil {
		t.Fatalf("session after the failed reload: %v", err)
	}
	if a, _ := f.t.App("market"); !a.AnonymousAccess {
		t.Fatal("a reload's initial state must not change a stored state")
	}
}

func TestRegisterRefusesBadApps(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	bad := map[string]func(*policy.Registration){
		"unknown space":   func(r *policy.Registration) { r.Apps[0].Space = "ghost" },
		"on in shared":    func(r *policy.Registration) { r.Apps[1].InitiallyOn = true },
		"entry off scope": func(r *policy.Registration) { r.Apps[0].Entry = "/elsewhere" },
		"bad origin":      func(r *policy.Registration) { r.Config.EmbedOrigins = []string{"javascript:alert(1)"} },
		"short key":       func(r *policy.Registration) { r.SigningKey = []byte("short") },
		"renewal < ttl":   func(r *policy.Registration) { r.Config.RenewalWindow = time.Minute },
		"space type":      func(r *policy.Registration) { r.Spaces[0].Type = "public" },
	}
	for name, mutate := range bad {
		r := f.registration()
		r.Apps = append([]policy.ProvisionedApp(nil), r.Apps...)
		r.Spaces = append([]policy.Space(nil), r.Spaces...)
		mutate(&r)
		if err := f.t.Register(ctx, name, r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := f.t.Authorize(f.open1(t).Token, "GET", "/dash/market.html"); err != nil {
		t.Fatalf("the running configuration was disturbed: %v", err)
	}
}

// TestProvisionedSpaceIsManagedByDefault registers a space without a type:
// it is a managed space, so its app may start with anonymous access on.
func TestProvisionedSpaceIsManagedByDefault(t *testing.T) {
	f := newFixture(t, 10)
	r := f.registration()
	r.Spaces = append([]policy.Space(nil), r.Spaces...)
	r.Spaces[0].Type = ""
	if err := f.t.Register(context.Background(), f, r); err != nil {
		t.Fatal(err)
	}
	if _, err := f.t.Link("market"); err != nil {
		t.Fatalf("the app of a space without a type: %v", err)
	}
}
