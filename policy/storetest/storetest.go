// Package storetest is the conformance suite of policy.Store: every store
// implementation (the embedded bbolt file, Redis) runs it from its own tests
// and must pass it unchanged, so that the gateway behaves the same on
// either.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/anonaccess/caddy-anonymous-access/policy/policytest"
)

// Backing is one fresh, empty backing store (a bbolt file, a Redis key
// prefix or server) made for one subtest of the suite.
type Backing struct {
	// Open returns the named tenant's store on this backing store, with
	// now as its clock. The suite opens several tenants on one backing
	// store, and opens a tenant again after Restart. Stores are closed by
	// whoever made the Backing, in t.Cleanup.
	Open func(tenant string, now func() time.Time) policy.Store
	// Restart, when set, stops every store opened so far and the backing
	// store itself, and starts them again, as a process restart would.
	// Stores opened before are not used afterwards. Without it the
	// durability test is skipped.
	Restart func()
}

// Run runs the suite. newBacking is called once per subtest, with that
// subtest's t, and must return a backing store that shares nothing with
// the others.
func Run(t *testing.T, newBacking func(t *testing.T) Backing) {
	tests := []struct {
		name string
		fn   func(*testing.T, Backing)
	}{
		{"Spaces", testSpaces},
		{"EnsureApp", testEnsureApp},
		{"EnsureAppConcurrent", testEnsureAppConcurrent},
		{"EnsureAppTakesOver", testEnsureAppTakesOver},
		{"UpdateApp", testUpdateApp},
		{"UpdateAppConcurrent", testUpdateAppConcurrent},
		{"SigningKey", testSigningKey},
		{"AdmitSessionExact", testAdmitExact},
		{"AdmitSessionZeroCapacity", testZeroCapacity},
		{"ClientLimitExact", testClientLimitExact},
		{"ClientLimitAndCapacity", testClientLimitAndCapacity},
		{"ClientLimitFrees", testClientLimitFrees},
		{"RenewOnce", testRenewOnce},
		{"ClientDurable", testClientDurable},
		{"SessionExpiry", testExpiry},
		{"EndSessions", testEndSessions},
		{"UsageEmpty", testUsageEmpty},
		{"TenantsIsolated", testTenantsIsolated},
		{"Durable", testDurable},
		{"Create", testCreate},
		{"CreateConcurrent", testCreateConcurrent},
		{"DeleteApp", testDeleteApp},
		{"DeleteAppConcurrent", testDeleteAppConcurrent},
		{"AccessModel", testAccessModel},
		{"AccessModelConcurrent", testAccessModelConcurrent},
		{"AuditLog", testAuditLog},
		{"AuditConcurrent", testAuditConcurrent},
		{"AccessTenantsIsolated", testTenantsIsolatedAccess},
		{"AccessDurable", testDurableAccess},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBacking(t))
		})
	}
}

// start is the suite's clock origin: a whole second, so that ExpiresAt
// (unix seconds) and the clock agree exactly.
var start = time.Unix(1_800_000_000, 0)

func newClock() *policytest.Clock { return policytest.NewClock(start) }

func testApp(id, space string) policy.AppRecord {
	return policy.AppRecord{
		App: policy.App{
			ID: id, Name: "App " + id, Space: space, Entry: "/d/" + id + ".html",
			Scope: []string{"/d/*"}, Methods: []string{"GET", "HEAD"}, Deny: []string{},
		},
		Code:    "code-of-" + id,
		Version: 1,
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func appsByID(t *testing.T, st policy.Store) map[string]policy.AppRecord {
	t.Helper()
	apps, err := st.Apps(context.Background())
	must(t, err)
	out := make(map[string]policy.AppRecord, len(apps))
	for _, a := range apps {
		if _, dup := out[a.ID]; dup {
			t.Fatalf("Apps lists %q twice", a.ID)
		}
		out[a.ID] = a
	}
	return out
}

func testSpaces(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	got, err := st.Spaces(ctx)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("fresh store has spaces %+v", got)
	}
	stats := policy.Space{ID: "stats", Name: "Statistics", Type: policy.SpaceManaged, Owner: "alice", Provisioned: true}
	team := policy.Space{ID: "team", Name: "Team", Type: policy.SpaceShared}
	must(t, st.PutSpace(ctx, stats))
	must(t, st.PutSpace(ctx, team))
	// PutSpace replaces a space with the same id.
	team.Name, team.Type, team.Owner = "Team two", policy.SpacePersonal, "bob"
	must(t, st.PutSpace(ctx, team))
	got, err = st.Spaces(ctx)
	must(t, err)
	byID := map[string]policy.Space{}
	for _, s := range got {
		byID[s.ID] = s
	}
	if len(got) != 2 || byID["stats"] != stats || byID["team"] != team {
		t.Fatalf("Spaces() = %+v, want %+v and %+v", got, stats, team)
	}
}

func testEnsureApp(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	rec := testApp("market", "stats")
	rec.EmbedOrigins = []string{"https://www.example.org"}
	rec.Provisioned = true
	got, err := st.EnsureApp(ctx, rec)
	must(t, err)
	if !reflect.DeepEqual(got, rec) {
		t.Fatalf("EnsureApp on a new id returned %+v, want %+v", got, rec)
	}
	if stored := appsByID(t, st)["market"]; !reflect.DeepEqual(stored, rec) {
		t.Fatalf("stored %+v, want %+v", stored, rec)
	}
	// Turn it on and move its code, as tenant users would.
	_, err = st.UpdateApp(ctx, "market", func(r *policy.AppRecord) error {
		r.AnonymousAccess, r.Code, r.Version = true, "code-2", 7
		return nil
	})
	must(t, err)

	// Provisioning again (a config reload) brings a new definition and a
	// fresh code: the definition is taken, the secret state kept.
	next := testApp("market", "stats2")
	next.Name, next.Entry, next.Scope = "Market v2", "/v2/index.html", []string{"/v2/*"}
	next.Methods, next.Deny, next.Provisioned = []string{"GET"}, []string{"/v2/admin/*"}, true
	next.Code, next.Version, next.AnonymousAccess = "fresh-code", 1, false
	want := next
	want.Code, want.Version, want.AnonymousAccess = "code-2", 7, true
	got, err = st.EnsureApp(ctx, next)
	must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("EnsureApp on an existing id returned\n %+v\nwant\n %+v", got, want)
	}
	apps := appsByID(t, st)
	if len(apps) != 1 || !reflect.DeepEqual(apps["market"], want) {
		t.Fatalf("Apps() = %+v, want only %+v", apps, want)
	}

	other := testApp("sales", "stats")
	_, err = st.EnsureApp(ctx, other)
	must(t, err)
	apps = appsByID(t, st)
	if len(apps) != 2 || !reflect.DeepEqual(apps["sales"], other) || !reflect.DeepEqual(apps["market"], want) {
		t.Fatalf("after a second app: %+v", apps)
	}
}

// testEnsureAppTakesOver is the configuration provisioning an app over one
// a tenant user published, and over one it had dropped: the configuration
// takes it over with its own code and state and a version above the old.
func testEnsureAppTakesOver(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	published := testApp("market", "stats")
	published.AnonymousAccess, published.Version = true, 41
	must(t, st.CreateApp(ctx, published))
	cfg := testApp("market", "stats")
	cfg.Provisioned, cfg.Code, cfg.Version = true, "config-code", 5
	got, err := st.EnsureApp(ctx, cfg)
	must(t, err)
	if got.Code != "config-code" || got.AnonymousAccess || got.Version <= 41 || !got.Provisioned {
		t.Fatalf("a published app was not taken over: %+v", got)
	}
	if stored := appsByID(t, st)["market"]; !reflect.DeepEqual(stored, got) {
		t.Fatalf("stored %+v, EnsureApp returned %+v", stored, got)
	}
	_, err = st.UpdateApp(ctx, "market", func(r *policy.AppRecord) error { r.Retired = true; return nil })
	must(t, err)
	again := cfg
	again.Code = "config-code-2"
	back, err := st.EnsureApp(ctx, again)
	must(t, err)
	if back.Code != "config-code-2" || back.Retired || back.Version <= got.Version {
		t.Fatalf("a retired app came back with its old state: %+v (was %+v)", back, got)
	}
}

// testEnsureAppConcurrent is several instances provisioning one new app at
// once, each with its own fresh code: one code wins, and every instance
// gets it back.
func testEnsureAppConcurrent(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	const callers = 16
	got := make([]policy.AppRecord, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := testApp("market", "stats")
			rec.Code = fmt.Sprintf("code-%02d", i)
			got[i], errs[i] = st.EnsureApp(ctx, rec)
		}()
	}
	wg.Wait()
	for i := range callers {
		must(t, errs[i])
		if got[i].Code != got[0].Code {
			t.Fatalf("concurrent EnsureApp returned codes %q and %q", got[0].Code, got[i].Code)
		}
	}
	if stored := appsByID(t, st)["market"]; stored.Code != got[0].Code {
		t.Fatalf("stored code %q, EnsureApp returned %q", stored.Code, got[0].Code)
	}
}

func testUpdateApp(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	_, err := st.EnsureApp(ctx, testApp("market", "stats"))
	must(t, err)

	got, err := st.UpdateApp(ctx, "market", func(r *policy.AppRecord) error {
		if r.ID != "market" || r.Code != "code-of-market" || r.Version != 1 {
			return fmt.Errorf("fn got %+v, not the stored app", *r)
		}
		r.Code, r.Version, r.AnonymousAccess = "code-2", 2, true
		return nil
	})
	must(t, err)
	want := testApp("market", "stats")
	want.Code, want.Version, want.AnonymousAccess = "code-2", 2, true
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UpdateApp returned %+v, want %+v", got, want)
	}
	if stored := appsByID(t, st)["market"]; !reflect.DeepEqual(stored, want) {
		t.Fatalf("stored %+v, want %+v", stored, want)
	}

	// A failing fn changes nothing, whatever it did to the record, and
	// its error comes back unchanged.
	boom := errors.New("boom")
	_, err = st.UpdateApp(ctx, "market", func(r *policy.AppRecord) error {
		r.Code, r.Version, r.AnonymousAccess, r.Name = "lost", 99, false, "lost"
		return boom
	})
	if err != boom {
		t.Fatalf("UpdateApp with a failing fn: %v, want the fn's error unchanged", err)
	}
	if stored := appsByID(t, st)["market"]; !reflect.DeepEqual(stored, want) {
		t.Fatalf("a failed update changed the app: %+v", stored)
	}

	called := false
	_, err = st.UpdateApp(ctx, "ghost", func(*policy.AppRecord) error { called = true; return nil })
	if !errors.Is(err, policy.ErrUnknownApp) {
		t.Fatalf("UpdateApp of an unknown app: %v, want ErrUnknownApp", err)
	}
	if called {
		t.Fatal("fn called for an unknown app")
	}
	if apps := appsByID(t, st); len(apps) != 1 {
		t.Fatalf("UpdateApp of an unknown app created it: %+v", apps)
	}
}

func testUpdateAppConcurrent(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	_, err := st.EnsureApp(ctx, testApp("market", "stats"))
	must(t, err)
	_, err = st.EnsureApp(ctx, testApp("sales", "stats"))
	must(t, err)
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// Half the writers also touch another app, which must
				// neither block nor clobber the first.
				id := "market"
				if w%2 == 1 && i%2 == 1 {
					id = "sales"
				}
				_, err := st.UpdateApp(ctx, id, func(r *policy.AppRecord) error {
					r.Version++
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent UpdateApp: %v", err)
	}
	apps := appsByID(t, st)
	sales := (workers / 2) * (each / 2)
	if got, want := apps["market"].Version, uint64(1+workers*each-sales); got != want {
		t.Fatalf("market version %d after concurrent increments, want %d (updates lost)", got, want)
	}
	if got, want := apps["sales"].Version, uint64(1+sales); got != want {
		t.Fatalf("sales version %d after concurrent increments, want %d (updates lost)", got, want)
	}
}

func testSigningKey(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	const callers = 32
	keys := make([][]byte, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = st.SigningKey(ctx, fmt.Appendf(nil, "candidate-%02d-%s", i, "0123456789abcdef"))
		}()
	}
	wg.Wait()
	for i := range callers {
		must(t, errs[i])
		if string(keys[i]) != string(keys[0]) {
			t.Fatalf("concurrent first calls got different keys: %q and %q", keys[0], keys[i])
		}
	}
	if len(keys[0]) != len("candidate-00-0123456789abcdef") || string(keys[0][:10]) != "candidate-" {
		t.Fatalf("stored key %q is none of the candidates", keys[0])
	}
	again, err := st.SigningKey(ctx, []byte("a-later-candidate"))
	must(t, err)
	if string(again) != string(keys[0]) {
		t.Fatalf("a later call replaced the key: %q, want %q", again, keys[0])
	}
}
