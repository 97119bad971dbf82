package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// The cases of the management API's state: spaces and apps created and
// deleted by tenant users, the access model and the audit log.

// errRefused is a check's or an fn's refusal, to be returned unchanged.
var errRefused = errors.New("refused by the caller")

func spacesByID(t *testing.T, st policy.Store) map[string]policy.Space {
	t.Helper()
	spaces, err := st.Spaces(context.Background())
	must(t, err)
	out := make(map[string]policy.Space, len(spaces))
	for _, s := range spaces {
		out[s.ID] = s
	}
	return out
}

func testCreate(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	stats := policy.Space{ID: "stats", Name: "Statistics", Type: policy.SpaceManaged, Owner: "alice"}
	must(t, st.CreateSpace(ctx, stats))
	err := st.CreateSpace(ctx, policy.Space{ID: "stats", Name: "Taken", Type: policy.SpaceShared, Owner: "mallory"})
	if !errors.Is(err, policy.ErrSpaceExists) {
		t.Fatalf("CreateSpace on a taken id: %v, want ErrSpaceExists", err)
	}
	// A space written by the operator's configuration takes its id too.
	team := policy.Space{ID: "team", Name: "Team", Type: policy.SpaceShared, Provisioned: true}
	must(t, st.PutSpace(ctx, team))
	if err := st.CreateSpace(ctx, policy.Space{ID: "team", Name: "Mine", Type: policy.SpacePersonal}); !errors.Is(err, policy.ErrSpaceExists) {
		t.Fatalf("CreateSpace on a provisioned space's id: %v, want ErrSpaceExists", err)
	}
	if got := spacesByID(t, st); len(got) != 2 || got["stats"] != stats || got["team"] != team {
		t.Fatalf("Spaces() = %+v, want the first values kept", got)
	}

	market := testApp("market", "stats")
	market.AnonymousAccess, market.Version = true, 3
	must(t, st.CreateApp(ctx, market))
	taken := testApp("market", "other")
	taken.Code = "another-code"
	if err := st.CreateApp(ctx, taken); !errors.Is(err, policy.ErrAppExists) {
		t.Fatalf("CreateApp on a taken id: %v, want ErrAppExists", err)
	}
	_, err = st.EnsureApp(ctx, testApp("sales", "stats"))
	must(t, err)
	if err := st.CreateApp(ctx, testApp("sales", "team")); !errors.Is(err, policy.ErrAppExists) {
		t.Fatalf("CreateApp on a provisioned app's id: %v, want ErrAppExists", err)
	}
	apps := appsByID(t, st)
	if len(apps) != 2 || !reflect.DeepEqual(apps["market"], market) || !reflect.DeepEqual(apps["sales"], testApp("sales", "stats")) {
		t.Fatalf("Apps() = %+v, want the first values kept", apps)
	}
}

// testCreateConcurrent is many tenant users creating one id at once: one
// wins, every other learns that the id is taken, and the winner's value
// is the one stored.
func testCreateConcurrent(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	const callers = 16
	spaceErrs, appErrs := make([]error, callers), make([]error, callers)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			spaceErrs[i] = st.CreateSpace(ctx, policy.Space{ID: "stats", Name: fmt.Sprintf("Space %02d", i), Type: policy.SpaceShared})
			rec := testApp("market", "stats")
			rec.Code = fmt.Sprintf("code-%02d", i)
			appErrs[i] = st.CreateApp(ctx, rec)
		}()
	}
	close(ready)
	wg.Wait()
	winner := func(what string, errs []error, exists error) int {
		w := -1
		for i, err := range errs {
			switch {
			case err == nil && w >= 0:
				t.Fatalf("two concurrent %s calls both created the id", what)
			case err == nil:
				w = i
			case !errors.Is(err, exists):
				t.Fatalf("concurrent %s: %v, want nil or %v", what, err, exists)
			}
		}
		if w < 0 {
			t.Fatalf("no concurrent %s call created the id", what)
		}
		return w
	}
	ws := winner("CreateSpace", spaceErrs, policy.ErrSpaceExists)
	wa := winner("CreateApp", appErrs, policy.ErrAppExists)
	if got, want := spacesByID(t, st)["stats"].Name, fmt.Sprintf("Space %02d", ws); got != want {
		t.Fatalf("stored space %q, but the call that succeeded wrote %q", got, want)
	}
	if got, want := appsByID(t, st)["market"].Code, fmt.Sprintf("code-%02d", wa); got != want {
		t.Fatalf("stored code %q, but the call that succeeded wrote %q", got, want)
	}
}

func testDeleteApp(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	market := testApp("market", "stats")
	market.AnonymousAccess = true
	must(t, st.CreateApp(ctx, market))
	must(t, st.CreateApp(ctx, testApp("sales", "stats")))

	var seen policy.AppRecord
	_, err := st.DeleteApp(ctx, "market", func(r policy.AppRecord) error { seen = r; return errRefused })
	if err != errRefused {
		t.Fatalf("DeleteApp with a refusing check: %v, want the check's error unchanged", err)
	}
	if !reflect.DeepEqual(seen, market) {
		t.Fatalf("check got %+v, not the stored app %+v", seen, market)
	}
	if apps := appsByID(t, st); len(apps) != 2 || !reflect.DeepEqual(apps["market"], market) {
		t.Fatalf("a refused delete changed the apps: %+v", apps)
	}

	got, err := st.DeleteApp(ctx, "market", func(policy.AppRecord) error { return nil })
	must(t, err)
	if !reflect.DeepEqual(got, market) {
		t.Fatalf("DeleteApp returned %+v, want the deleted app %+v", got, market)
	}
	if apps := appsByID(t, st); len(apps) != 1 || !reflect.DeepEqual(apps["sales"], testApp("sales", "stats")) {
		t.Fatalf("after deleting market: %+v, want only sales", apps)
	}
	if _, err := st.UpdateApp(ctx, "market", func(*policy.AppRecord) error { return nil }); !errors.Is(err, policy.ErrUnknownApp) {
		t.Fatalf("UpdateApp of a deleted app: %v, want ErrUnknownApp", err)
	}
	for _, id := range []string{"market", "ghost"} {
		called := false
		_, err := st.DeleteApp(ctx, id, func(policy.AppRecord) error { called = true; return nil })
		if !errors.Is(err, policy.ErrUnknownApp) {
			t.Fatalf("DeleteApp of unknown %q: %v, want ErrUnknownApp", id, err)
		}
		if called {
			t.Fatalf("check called for unknown %q", id)
		}
	}
	// The id is free again.
	must(t, st.CreateApp(ctx, testApp("market", "team")))
}

// testDeleteAppConcurrent deletes an app while others update it until it
// is gone. The check refuses early and odd versions, so the delete lands
// in the middle of the updates. Whatever the interleaving, the app deleted
// is the last one written: an update landing between a check and a delete
// that ignored it would leave a written version newer than the deleted one.
// Such a race is caught most of the time, not always: hence a few rounds.
func testDeleteAppConcurrent(t *testing.T, b Backing) {
	st := b.Open("acme", newClock().Now)
	for round := range 3 {
		deleteWhileUpdating(t, st, fmt.Sprintf("app-%d", round))
	}
}

func deleteWhileUpdating(t *testing.T, st policy.Store, id string) {
	ctx := context.Background()
	must(t, st.CreateApp(ctx, testApp(id, "stats")))
	// An updater gives up after each updates, should the deleter never
	// see a version it accepts; the deleter then accepts any.
	const updaters, each, from = 4, 500, 10
	var (
		mu      sync.Mutex
		written = uint64(1) // the newest version any update returned
		failed  error
		done    atomic.Bool
		deleted policy.AppRecord
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if failed == nil {
			failed = err
		}
	}
	// The updates start once the deleter is checking, so that they
	// overlap however fast they are.
	checking := make(chan struct{})
	var once sync.Once
	startUpdates := func() { once.Do(func() { close(checking) }) }
	var wg, del sync.WaitGroup
	for range updaters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-checking
			for range each {
				r, err := st.UpdateApp(ctx, id, func(r *policy.AppRecord) error { r.Version++; return nil })
				if errors.Is(err, policy.ErrUnknownApp) {
					return
				}
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				written = max(written, r.Version)
				mu.Unlock()
				runtime.Gosched() // let the deleter in, on a store in memory too
			}
		}()
	}
	del.Add(1)
	go func() {
		defer del.Done()
		defer startUpdates() // should DeleteApp fail before any check
		for {
			rec, err := st.DeleteApp(ctx, id, func(r policy.AppRecord) error {
				startUpdates()
				if !done.Load() && (r.Version < from || r.Version%2 == 1) {
					return errRefused
				}
				return nil
			})
			if err == nil {
				deleted = rec
				return
			}
			if err != errRefused {
				fail(fmt.Errorf("DeleteApp: %w", err))
				return
			}
		}
	}()
	wg.Wait()
	done.Store(true) // let the deleter finish if it has not
	del.Wait()
	must(t, failed)
	if deleted.Version != written {
		t.Fatalf("deleted version %d, but an update wrote version %d: deleted on an outdated check", deleted.Version, written)
	}
	if _, ok := appsByID(t, st)[id]; ok {
		t.Fatalf("%s still listed after its delete", id)
	}
}

// testTenantsIsolatedAccess repeats testTenantsIsolated for the management
// API's state.
func testTenantsIsolatedAccess(t *testing.T, b Backing) {
	ctx := context.Background()
	clock := newClock()
	acme, globex := b.Open("acme", clock.Now), b.Open("globex", clock.Now)
	for _, st := range []policy.Store{acme, globex} {
		must(t, st.CreateSpace(ctx, policy.Space{ID: "stats", Name: "Stats", Type: policy.SpaceManaged}))
		must(t, st.CreateApp(ctx, testApp("market", "stats")))
	}
	_, err := acme.DeleteApp(ctx, "market", func(policy.AppRecord) error { return nil })
	must(t, err)
	if _, ok := appsByID(t, globex)["market"]; !ok {
		t.Fatal("acme's DeleteApp deleted globex's app")
	}
	_, err = acme.UpdateAccessModel(ctx, func(m *policy.AccessModel) error {
		ensureMaps(m)
		m.UserDefault, m.Users["alice"] = policy.GrantAllowed, []string{policy.RoleTenantAdmin}
		return nil
	})
	must(t, err)
	if m, err := globex.AccessModel(ctx); err != nil || !emptyModel(m) {
		t.Fatalf("globex's model after acme's update: %+v (%v)", m, err)
	}
	for i := range 3 {
		_, err := acme.AppendAudit(ctx, auditEntry(i, "acme-admin"))
		must(t, err)
	}
	_, err = globex.AppendAudit(ctx, auditEntry(0, "globex-admin"))
	must(t, err)
	if log := auditLog(t, globex, 0, 100); len(log) != 1 || log[0].Actor != "globex-admin" {
		t.Fatalf("globex's audit log: %+v, want its one entry", log)
	}
	if log := auditLog(t, acme, 0, 100); len(log) != 3 || log[0].Actor != "acme-admin" {
		t.Fatalf("acme's audit log: %+v, want its three entries", log)
	}
}

// testDurableAccess restarts the backing store: created spaces and apps,
// deletions, the access model and the audit log survive, and audit IDs go
// on increasing.
func testDurableAccess(t *testing.T, b Backing) {
	if b.Restart == nil {
		t.Skip("this backing store cannot be restarted")
	}
	ctx := context.Background()
	clock := newClock()
	st := b.Open("acme", clock.Now)
	space := policy.Space{ID: "team", Name: "Team", Type: policy.SpaceShared, Owner: "alice"}
	must(t, st.CreateSpace(ctx, space))
	must(t, st.CreateApp(ctx, testApp("market", "team")))
	must(t, st.CreateApp(ctx, testApp("sales", "team")))
	_, err := st.DeleteApp(ctx, "sales", func(policy.AppRecord) error { return nil })
	must(t, err)
	model, err := st.UpdateAccessModel(ctx, func(m *policy.AccessModel) error {
		*m = sampleModel()
		return nil
	})
	must(t, err)
	var entries []policy.AuditEntry
	for i := range 5 {
		e, err := st.AppendAudit(ctx, auditEntry(i, "alice"))
		must(t, err)
		entries = append(entries, e)
	}

	b.Restart()
	st = b.Open("acme", clock.Now)
	if got := spacesByID(t, st); len(got) != 1 || got["team"] != space {
		t.Fatalf("spaces after restart: %+v", got)
	}
	if apps := appsByID(t, st); len(apps) != 1 || !reflect.DeepEqual(apps["market"], testApp("market", "team")) {
		t.Fatalf("apps after restart: %+v, want only market", apps)
	}
	if err := st.CreateApp(ctx, testApp("market", "other")); !errors.Is(err, policy.ErrAppExists) {
		t.Fatalf("CreateApp after restart on a created app's id: %v, want ErrAppExists", err)
	}
	got, err := st.AccessModel(ctx)
	must(t, err)
	wantModel(t, got, model)
	wantLog(t, auditLog(t, st, 0, 100), entries)
	next, err := st.AppendAudit(ctx, auditEntry(5, "alice"))
	must(t, err)
	if next.ID <= entries[len(entries)-1].ID {
		t.Fatalf("audit ID %d after restart, not above the last one before, %d", next.ID, entries[len(entries)-1].ID)
	}
}

// auditEntry makes the n-th test audit entry, at n seconds past start.
func auditEntry(n int, actor string) policy.AuditEntry {
	return policy.AuditEntry{
		Time: start.Add(time.Duration(n) * time.Second).UTC(), Actor: actor, From: "192.0.2.7",
		Action: "app.anonymous_access", Space: "stats", App: fmt.Sprintf("app-%d", n), Value: "on",
	}
}
