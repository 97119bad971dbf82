package storetest

import (
	"context"
	"encoding/binary"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// session makes the n-th test session: a distinct key, an app, an expiry.
func session(n int, app string, exp time.Time) policy.SessionRecord {
	var k policy.SessionKey
	binary.BigEndian.PutUint32(k[:], uint32(n))
	k[15] = 0xA5 // a non-zero tail, so keys are not mostly zero bytes
	return policy.SessionRecord{Key: k, App: app, ExpiresAt: exp.Unix()}
}

// admit asks for rec within capacity alone, fails the test on an error,
// and reports whether it was admitted.
func admit(t *testing.T, st policy.Store, rec policy.SessionRecord, capacity int, now time.Time) bool {
	t.Helper()
	return decide(t, st, policy.Admission{Session: rec, Capacity: capacity}, now).Outcome == policy.Admitted
}

// decide calls AdmitSession and fails the test on an error.
func decide(t *testing.T, st policy.Store, a policy.Admission, now time.Time) policy.Verdict {
	t.Helper()
	v, err := st.AdmitSession(context.Background(), a, now)
	if err != nil {
		t.Fatalf("AdmitSession: %v", err)
	}
	return v
}

// wantUsage checks Usage at now: the live count, the peak and the live
// count of every app named in perApp (absent and zero are the same).
func wantUsage(t *testing.T, st policy.Store, now time.Time, active, peak int, perApp map[string]int) {
	t.Helper()
	u, err := st.Usage(context.Background(), now)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	got := map[string]int{}
	sum := 0
	for app, n := range u.PerApp {
		sum += n
		if n != 0 {
			got[app] = n
		}
	}
	want := map[string]int{}
	for app, n := range perApp {
		if n != 0 {
			want[app] = n
		}
	}
	if u.Active != active || u.Peak != peak || sum != active || !reflect.DeepEqual(got, want) {
		t.Fatalf("Usage at +%v = %+v, want active %d, peak %d, per app %v",
			now.Sub(start), u, active, peak, want)
	}
}

func testAdmitExact(t *testing.T, b Backing) {
	clock := newClock()
	st := b.Open("acme", clock.Now)
	const callers, capacity = 500, 37
	apps := []string{"market", "sales", "ops"}
	var admitted [3]atomic.Int32
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready // release them together, to contend for real
			rec := session(i, apps[i%3], start.Add(15*time.Minute))
			v, err := st.AdmitSession(context.Background(), policy.Admission{Session: rec, Capacity: capacity}, start)
			if err != nil {
				errs <- err
			} else if v.Outcome == policy.Admitted {
				admitted[i%3].Add(1)
			}
		}()
	}
	close(ready)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent AdmitSession: %v", err)
	}
	total := int(admitted[0].Load() + admitted[1].Load() + admitted[2].Load())
	if total != capacity {
		t.Fatalf("%d of %d concurrent admissions succeeded, want exactly the capacity %d", total, callers, capacity)
	}
	wantUsage(t, st, start, capacity, capacity, map[string]int{
		"market": int(admitted[0].Load()), "sales": int(admitted[1].Load()), "ops": int(admitted[2].Load()),
	})
	if admit(t, st, session(callers, "market", start.Add(time.Hour)), capacity, start.Add(time.Minute)) {
		t.Fatal("admitted past capacity after the burst")
	}
}

func testZeroCapacity(t *testing.T, b Backing) {
	st := b.Open("acme", newClock().Now)
	if admit(t, st, session(1, "market", start.Add(time.Minute)), 0, start) {
		t.Fatal("admitted with capacity 0")
	}
	wantUsage(t, st, start, 0, 0, nil)
}

// testExpiry checks that a session's slot frees exactly at its ExpiresAt
// (a session is live while now < ExpiresAt), with nothing else happening.
func testExpiry(t *testing.T, b Backing) {
	clock := newClock()
	st := b.Open("acme", clock.Now)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	for i, s := range []struct {
		app string
		exp time.Duration
	}{{"market", 10 * time.Second}, {"market", 20 * time.Second}, {"sales", 30 * time.Second}} {
		if !admit(t, st, session(i, s.app, at(s.exp)), 3, start) {
			t.Fatalf("session %d refused below capacity", i)
		}
	}
	clock.Advance(9 * time.Second)
	if admit(t, st, session(10, "ops", at(100*time.Second)), 3, at(9*time.Second)) {
		t.Fatal("admitted past capacity one second before any expiry")
	}
	wantUsage(t, st, at(9*time.Second), 3, 3, map[string]int{"market": 2, "sales": 1})

	clock.Advance(time.Second)
	wantUsage(t, st, at(10*time.Second), 2, 3, map[string]int{"market": 1, "sales": 1})
	if !admit(t, st, session(11, "ops", at(100*time.Second)), 3, at(10*time.Second)) {
		t.Fatal("slot not freed at exactly ExpiresAt")
	}
	if admit(t, st, session(12, "ops", at(100*time.Second)), 3, at(10*time.Second)) {
		t.Fatal("admitted past capacity after one slot freed")
	}

	// Without any admission in between, Usage alone sees both expire.
	clock.Advance(20 * time.Second)
	wantUsage(t, st, at(30*time.Second), 1, 3, map[string]int{"ops": 1})
	for i := 13; i < 15; i++ {
		if !admit(t, st, session(i, "sales", at(200*time.Second)), 3, at(30*time.Second)) {
			t.Fatalf("session %d refused after expiries freed its slot", i)
		}
	}
	if admit(t, st, session(15, "sales", at(200*time.Second)), 3, at(30*time.Second)) {
		t.Fatal("admitted past capacity after refilling")
	}
	clock.Advance(time.Hour)
	wantUsage(t, st, at(time.Hour+30*time.Second), 0, 3, nil)
}

func testEndSessions(t *testing.T, b Backing) {
	ctx := context.Background()
	clock := newClock()
	st := b.Open("acme", clock.Now)
	exp := start.Add(15 * time.Minute)
	n := 0
	for _, app := range []string{"market", "market", "market", "sales", "sales"} {
		n++
		if !admit(t, st, session(n, app, exp), 6, start) {
			t.Fatalf("session %d refused below capacity", n)
		}
	}
	must(t, st.EndSessions(ctx, "market"))
	wantUsage(t, st, start, 2, 5, map[string]int{"sales": 2})
	// The ended sessions' slots are free again: 4 more fit, not 5.
	for i := 0; i < 4; i++ {
		n++
		if !admit(t, st, session(n, "ops", exp), 6, start) {
			t.Fatalf("slot %d of the ended sessions not freed", i)
		}
	}
	n++
	if admit(t, st, session(n, "ops", exp), 6, start) {
		t.Fatal("admitted past capacity after EndSessions")
	}
	must(t, st.EndSessions(ctx, "ghost"))
	wantUsage(t, st, start, 6, 6, map[string]int{"sales": 2, "ops": 4})
	must(t, st.EndSessions(ctx, "sales"))
	wantUsage(t, st, start, 4, 6, map[string]int{"ops": 4})
	// Ended sessions stay ended when the others expire later.
	clock.Advance(14 * time.Minute)
	wantUsage(t, st, start.Add(14*time.Minute), 4, 6, map[string]int{"ops": 4})
}

func testUsageEmpty(t *testing.T, b Backing) {
	st := b.Open("acme", newClock().Now)
	u, err := st.Usage(context.Background(), start)
	must(t, err)
	if u.Active != 0 || u.Peak != 0 || u.PerApp == nil || len(u.PerApp) != 0 {
		t.Fatalf("fresh store's Usage = %+v, want zeros and an empty, non-nil PerApp", u)
	}
}

// testTenantsIsolated opens two tenants on one backing store: nothing one
// does is seen by the other.
func testTenantsIsolated(t *testing.T, b Backing) {
	ctx := context.Background()
	clock := newClock()
	acme, globex := b.Open("acme", clock.Now), b.Open("globex", clock.Now)
	must(t, acme.PutSpace(ctx, policy.Space{ID: "stats", Name: "Stats", Type: policy.SpaceManaged}))
	a, g := testApp("market", "stats"), testApp("market", "stats")
	a.Code, g.Code = "acme-code", "globex-code"
	_, err := acme.EnsureApp(ctx, a)
	must(t, err)
	_, err = globex.EnsureApp(ctx, g)
	must(t, err)
	_, err = acme.UpdateApp(ctx, "market", func(r *policy.AppRecord) error { r.Version = 42; return nil })
	must(t, err)
	ka, err := acme.SigningKey(ctx, []byte("acme-signing-key"))
	must(t, err)
	kg, err := globex.SigningKey(ctx, []byte("globex-signing-key"))
	must(t, err)
	if string(ka) != "acme-signing-key" || string(kg) != "globex-signing-key" {
		t.Fatalf("signing keys shared between tenants: %q, %q", ka, kg)
	}
	if spaces, err := globex.Spaces(ctx); err != nil || len(spaces) != 0 {
		t.Fatalf("globex sees spaces %+v (%v)", spaces, err)
	}
	if got := appsByID(t, globex)["market"]; got.Code != "globex-code" || got.Version != 1 {
		t.Fatalf("globex's app changed by acme: %+v", got)
	}
	if got := appsByID(t, acme)["market"]; got.Code != "acme-code" || got.Version != 42 {
		t.Fatalf("acme's app changed by globex: %+v", got)
	}

	exp := start.Add(15 * time.Minute)
	for i := 0; i < 2; i++ {
		if !admit(t, acme, session(i, "market", exp), 2, start) {
			t.Fatal("acme refused below capacity")
		}
	}
	// The same session keys in another tenant are other sessions.
	for i := 0; i < 2; i++ {
		if !admit(t, globex, session(i, "market", exp), 2, start) {
			t.Fatal("globex refused because of acme's sessions")
		}
	}
	if admit(t, acme, session(9, "market", exp), 2, start) || admit(t, globex, session(9, "market", exp), 2, start) {
		t.Fatal("admitted past capacity")
	}
	must(t, acme.EndSessions(ctx, "market"))
	wantUsage(t, acme, start, 0, 2, nil)
	wantUsage(t, globex, start, 2, 2, map[string]int{"market": 2})
}

// testDurable restarts the backing store: spaces, apps, the signing key,
// live sessions, sessions ended early and the peak all survive.
func testDurable(t *testing.T, b Backing) {
	if b.Restart == nil {
		t.Skip("this backing store cannot be restarted")
	}
	ctx := context.Background()
	clock := newClock()
	st := b.Open("acme", clock.Now)
	space := policy.Space{ID: "stats", Name: "Stats", Type: policy.SpaceManaged, Owner: "alice"}
	must(t, st.PutSpace(ctx, space))
	_, err := st.EnsureApp(ctx, testApp("market", "stats"))
	must(t, err)
	want, err := st.UpdateApp(ctx, "market", func(r *policy.AppRecord) error {
		r.Code, r.Version, r.AnonymousAccess = "code-2", 2, true
		return nil
	})
	must(t, err)
	_, err = st.SigningKey(ctx, []byte("the-first-key"))
	must(t, err)
	exp := start.Add(15 * time.Minute)
	for i, app := range []string{"market", "market", "sales"} {
		if !admit(t, st, session(i, app, exp), 3, start) {
			t.Fatalf("session %d refused below capacity", i)
		}
	}
	must(t, st.EndSessions(ctx, "sales"))

	b.Restart()
	clock.Advance(time.Minute)
	now := clock.Now()
	st = b.Open("acme", clock.Now)
	spaces, err := st.Spaces(ctx)
	must(t, err)
	if len(spaces) != 1 || spaces[0] != space {
		t.Fatalf("spaces after restart: %+v", spaces)
	}
	if got := appsByID(t, st)["market"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("app after restart: %+v, want %+v", got, want)
	}
	if key, err := st.SigningKey(ctx, []byte("another-key")); err != nil || string(key) != "the-first-key" {
		t.Fatalf("signing key after restart: %q (%v)", key, err)
	}
	wantUsage(t, st, now, 2, 3, map[string]int{"market": 2})
	if !admit(t, st, session(10, "ops", exp), 3, now) {
		t.Fatal("the ended session's slot is taken after restart")
	}
	if admit(t, st, session(11, "ops", exp), 3, now) {
		t.Fatal("live sessions forgotten by the restart: admitted past capacity")
	}
}
