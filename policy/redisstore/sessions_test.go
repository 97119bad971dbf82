package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
)

// admitCap asks st for rec within capacity alone and reports whether it
// was admitted.
func admitCap(ctx context.Context, st *Store, rec policy.SessionRecord, capacity int, now time.Time) (bool, error) {
	v, err := st.AdmitSession(ctx, policy.Admission{Session: rec, Capacity: capacity}, now)
	return v.Outcome == policy.Admitted, err
}

// TestAdmissionExactAcrossClients is two gateway instances (two go-redis
// clients, two connection pools, two Stores) admitting 600 sessions at
// once against one tenant capacity of 37.
func TestAdmissionExactAcrossClients(t *testing.T) {
	r := redistest.Start(t)
	stores := []*Store{
		newStore(t, newClient(t, Options{URL: r.URL()}), "acme"),
		newStore(t, newClient(t, Options{URL: r.URL()}), "acme"),
	}
	const callers, capacity = 600, 37
	now := time.Unix(1_800_000_000, 0)
	var admitted [2]atomic.Int32
	var failed atomic.Int32
	ready := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var k policy.SessionKey
			binary.BigEndian.PutUint32(k[:], uint32(i))
			app := []string{"market", "sales", "ops"}[i%3]
			<-ready
			ok, err := admitCap(context.Background(), stores[i%2],
				policy.SessionRecord{Key: k, App: app, ExpiresAt: now.Add(15 * time.Minute).Unix()}, capacity, now)
			if err != nil {
				failed.Add(1)
			} else if ok {
				admitted[i%2].Add(1)
			}
		}()
	}
	began := time.Now()
	close(ready)
	wg.Wait()
	t.Logf("%d admissions over two clients in %v", callers, time.Since(began))
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d admissions failed", n)
	}
	if got := admitted[0].Load() + admitted[1].Load(); got != capacity {
		t.Fatalf("%d admitted (%d + %d), want exactly %d", got, admitted[0].Load(), admitted[1].Load(), capacity)
	}
	if admitted[0].Load() == 0 || admitted[1].Load() == 0 {
		t.Logf("one instance took every slot: %d + %d", admitted[0].Load(), admitted[1].Load())
	}
	for i, st := range stores {
		u, err := st.Usage(context.Background(), now)
		must(t, err)
		if u.Active != capacity || u.Peak != capacity || u.PerApp["market"]+u.PerApp["sales"]+u.PerApp["ops"] != capacity {
			t.Fatalf("instance %d sees %+v, want %d active and peak", i, u, capacity)
		}
	}
}

// TestAdmitRetryCountsOnce admits the same session twice, as a call
// retried after a lost reply would: it takes one slot.
func TestAdmitRetryCountsOnce(t *testing.T) {
	r := redistest.Start(t)
	st := newStore(t, newClient(t, Options{URL: r.URL()}), "acme")
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	rec := sessionRec(1, "market", now.Add(time.Minute))
	for i := 0; i < 2; i++ {
		ok, err := admitCap(ctx, st, rec, 2, now)
		if err != nil || !ok {
			t.Fatalf("admission %d: %v %v", i, ok, err)
		}
	}
	if u, _ := st.Usage(ctx, now); u.Active != 1 || u.Peak != 1 {
		t.Fatalf("usage %+v, want one session", u)
	}
}

// TestAdmitAfterScriptFlush empties the server's script cache, as a
// restart or a failover to a fresh replica does: the next admission sends
// the script again instead of failing.
func TestAdmitAfterScriptFlush(t *testing.T) {
	r := redistest.Start(t)
	c := newClient(t, Options{URL: r.URL()})
	st := newStore(t, c, "acme")
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	for i := range 2 {
		must(t, c.ScriptFlush(ctx).Err())
		ok, err := admitCap(ctx, st, sessionRec(byte(i), "market", now.Add(time.Minute)), 2, now)
		if err != nil || !ok {
			t.Fatalf("admission %d after SCRIPT FLUSH: %v %v", i, ok, err)
		}
	}
}

// TestNothingOutlivesSessions checks that once every session has expired
// or ended, no session bookkeeping is left in Redis: a gateway that
// crashed after admitting leaks nothing past the session's lifetime.
func TestNothingOutlivesSessions(t *testing.T) {
	r := redistest.Start(t)
	c := newClient(t, Options{URL: r.URL()})
	st := newStore(t, c, "acme")
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	for i, app := range []string{"market", "sales", "ops", "ops"} {
		ok, err := admitCap(ctx, st, sessionRec(byte(i), app, now.Add(time.Duration(i+1)*time.Minute)), 10, now)
		if err != nil || !ok {
			t.Fatalf("admit %d: %v %v", i, ok, err)
		}
	}
	must(t, st.EndSessions(ctx, "market"))
	keys, err := c.Keys(ctx, "*").Result()
	must(t, err)
	if len(keys) != 5 { // sessions, session_apps, peak, sessions:app:{sales,ops}
		t.Fatalf("while sessions are live: keys %q", keys)
	}
	// A later admission, or a usage report, clears what expired.
	later := now.Add(time.Hour)
	u, err := st.Usage(ctx, later)
	must(t, err)
	if u.Active != 0 || len(u.PerApp) != 0 || u.Peak != 4 {
		t.Fatalf("usage after expiry %+v", u)
	}
	keys, err = c.Keys(ctx, "*").Result()
	must(t, err)
	if len(keys) != 1 || keys[0] != st.keys.peak {
		t.Fatalf("left after every session expired: %q, want only the peak", keys)
	}
}

// TestFailClosed kills the server under a live store: every call returns
// ErrStoreUnavailable quickly, nothing panics, and once the server is back
// on its port everything works again with the state it had.
func TestFailClosed(t *testing.T) {
	r := redistest.Start(t)
	st := newStore(t, newClient(t, Options{URL: r.URL()}), "acme")
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(15 * time.Minute)
	_, err := st.EnsureApp(ctx, policy.AppRecord{App: policy.App{ID: "market"}, Code: "c"})
	must(t, err)
	if ok, err := admitCap(ctx, st, sessionRec(1, "market", exp), 2, now); err != nil || !ok {
		t.Fatalf("admit before the outage: %v %v", ok, err)
	}

	r.Kill()
	calls := map[string]func() error{
		"AdmitSession": func() error {
			ok, err := admitCap(ctx, st, sessionRec(2, "market", exp), 2, now)
			if ok {
				t.Error("admitted while the store is down")
			}
			return err
		},
		"Usage":       func() error { _, err := st.Usage(ctx, now); return err },
		"EndSessions": func() error { return st.EndSessions(ctx, "market") },
		"UpdateApp": func() error {
			_, err := st.UpdateApp(ctx, "market", func(*policy.AppRecord) error { return nil })
			return err
		},
		"EnsureApp":  func() error { _, err := st.EnsureApp(ctx, policy.AppRecord{App: policy.App{ID: "x"}}); return err },
		"Apps":       func() error { _, err := st.Apps(ctx); return err },
		"Spaces":     func() error { _, err := st.Spaces(ctx); return err },
		"PutSpace":   func() error { return st.PutSpace(ctx, policy.Space{ID: "s"}) },
		"SigningKey": func() error { _, err := st.SigningKey(ctx, []byte("k")); return err },
		"Notify":     func() error { return st.Notify(ctx) },
	}
	for name, call := range calls {
		began := time.Now()
		err := call()
		took := time.Since(began)
		if !errors.Is(err, policy.ErrStoreUnavailable) {
			t.Errorf("%s while down: %v, want ErrStoreUnavailable", name, err)
		}
		if took > 3*time.Second {
			t.Errorf("%s took %v to fail", name, took)
		}
		t.Logf("%s failed in %v: %v", name, took, err)
	}
	// A burst of admissions while down: all refused, none panics.
	var wg sync.WaitGroup
	var admitted atomic.Int32
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := admitCap(ctx, st, sessionRec(byte(10+i), "market", exp), 100, now); ok {
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 0 {
		t.Fatalf("%d admitted while down", admitted.Load())
	}

	r.Restart()
	// The client reconnects by itself; allow it a moment, bounded.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := admitCap(ctx, st, sessionRec(2, "market", exp), 2, now)
		if err == nil {
			if !ok {
				t.Fatal("refused below capacity after recovery")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered 5s after the restart: %v", err)
		}
	}
	if ok, err := admitCap(ctx, st, sessionRec(3, "market", exp), 2, now); err != nil || ok {
		t.Fatalf("the session admitted before the outage was forgotten: %v %v", ok, err)
	}
}

// TestFailClosedWhenServerHangs freezes the server (SIGSTOP): connections
// open but nothing answers, the worst case for a client. Admission still
// fails within the timeouts, and works again once the server resumes.
func TestFailClosedWhenServerHangs(t *testing.T) {
	r := redistest.Start(t)
	st := newStore(t, newClient(t, Options{URL: r.URL()}), "acme")
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(15 * time.Minute)
	if ok, err := admitCap(ctx, st, sessionRec(1, "market", exp), 2, now); err != nil || !ok {
		t.Fatalf("admit before the freeze: %v %v", ok, err)
	}
	r.Signal(syscall.SIGSTOP)
	resumed := false
	defer func() {
		if !resumed {
			r.Signal(syscall.SIGCONT)
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			ok, err := admitCap(ctx, st, sessionRec(byte(10+i), "market", exp), 100, now)
			if took := time.Since(began); ok || !errors.Is(err, policy.ErrStoreUnavailable) || took > opTimeout+time.Second {
				t.Errorf("admission against a frozen server: %v %v after %v", ok, err, took)
			}
		}()
	}
	wg.Wait()
	r.Signal(syscall.SIGCONT)
	resumed = true
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := admitCap(ctx, st, sessionRec(2, "market", exp), 100, now)
		if err == nil {
			if !ok {
				t.Fatal("refused below capacity after the server resumed")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered 5s after the server resumed: %v", err)
		}
	}
	// The frozen server still held the timed-out admissions in its socket
	// buffers and ran them when it resumed: their slots are taken, by
	// sessions nobody got, until their expiry. Capacity still holds.
	u, err := st.Usage(ctx, now)
	must(t, err)
	t.Logf("after the freeze: %+v (timed-out admissions the server ran late)", u)
	if u.Active < 2 || u.Active > 100 {
		t.Fatalf("usage after the freeze %+v", u)
	}
	if u, err := st.Usage(ctx, exp); err != nil || u.Active != 0 {
		t.Fatalf("late admissions outlive their expiry: %+v %v", u, err)
	}
}
