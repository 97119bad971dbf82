package redisstore

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
)

// waitFor polls cond every few milliseconds for at most limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		<-tick.C
	}
}

// expectChange waits for one onChange call, for at most limit.
func expectChange(t *testing.T, changes <-chan struct{}, limit time.Duration, what string) time.Duration {
	t.Helper()
	began := time.Now()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-changes:
		return time.Since(began)
	case <-timer.C:
		t.Fatalf("%s: no onChange within %v", what, limit)
		return 0
	}
}

// drain empties changes without waiting.
func drain(changes <-chan struct{}) {
	for {
		select {
		case <-changes:
		default:
			return
		}
	}
}

// TestWatchAcrossInstances is two gateway instances on one server: a
// change notified by one reaches the other; after the server restarts the
// watcher reports the outage, resubscribes and calls onChange to resync;
// and Watch returns when its context ends, leaving no goroutine behind.
func TestWatchAcrossInstances(t *testing.T) {
	r := redistest.Start(t)
	baseline := runtime.NumGoroutine()
	ca, cb := newClient(t, Options{URL: r.URL()}), newClient(t, Options{URL: r.URL()})
	a, b := newStore(t, ca, "acme"), newStore(t, cb, "acme")
	other := newStore(t, ca, "globex")

	if ok, since := b.Healthy(); ok || since.IsZero() {
		t.Fatalf("Healthy before Watch = %v, %v; want down since the store was made", ok, since)
	}
	changes := make(chan struct{}, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Watch(ctx, func() { changes <- struct{}{} }) }()

	expectChange(t, changes, 5*time.Second, "first subscription")
	if ok, _ := b.Healthy(); !ok {
		t.Fatal("not healthy once subscribed")
	}
	took := expectChangeAfter(t, changes, func() { must(t, a.Notify(context.Background())) }, "Notify from the other instance")
	t.Logf("a notice crossed instances in %v", took)
	// Another tenant's notices are not ours.
	must(t, other.Notify(context.Background()))
	must(t, a.Notify(context.Background()))
	expectChange(t, changes, time.Second, "second notice")
	select {
	case <-changes:
		t.Fatal("onChange called for another tenant's notice")
	default:
	}

	r.Kill()
	waitFor(t, 3*time.Second, "Healthy false after the server died", func() bool { ok, _ := b.Healthy(); return !ok })
	ok, since := b.Healthy()
	if ok || since.IsZero() || time.Since(since) > 3*time.Second {
		t.Fatalf("Healthy while down = %v, %v", ok, since)
	}
	drain(changes)
	r.Restart()
	took = expectChange(t, changes, 5*time.Second, "resync after the restart")
	t.Logf("resynchronised %v after the server came back", took)
	waitFor(t, time.Second, "Healthy true after the restart", func() bool { ok, _ := b.Healthy(); return ok })
	expectChangeAfter(t, changes, func() { must(t, a.Notify(context.Background())) }, "Notify after the restart")

	cancel()
	timer := time.NewTimer(2 * time.Second)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch returned %v, want nil on cancellation", err)
		}
	case <-timer.C:
		t.Fatal("Watch still running 2s after its context ended")
	}
	if ok, _ := b.Healthy(); ok {
		t.Fatal("Healthy after Watch returned")
	}
	must(t, ca.Close())
	must(t, cb.Close())
	waitFor(t, 5*time.Second, "goroutines back to the baseline", func() bool {
		return runtime.NumGoroutine() <= baseline
	})
}

// expectChangeAfter runs act (a Notify) until the watcher sees a change,
// for at most a second: a notice published before the subscription
// confirmation can be missed, as pub/sub goes.
func expectChangeAfter(t *testing.T, changes <-chan struct{}, act func(), what string) time.Duration {
	t.Helper()
	drain(changes)
	began := time.Now()
	act()
	expectChange(t, changes, time.Second, what)
	return time.Since(began)
}

// TestWatchDetectsSilentDeath freezes the server: the connection stays
// open but nothing comes back. The probe notices within a few seconds,
// and the watcher resyncs once the server resumes.
func TestWatchDetectsSilentDeath(t *testing.T) {
	r := redistest.Start(t)
	st := newStore(t, newClient(t, Options{URL: r.URL()}), "acme")
	changes := make(chan struct{}, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = st.Watch(ctx, func() { changes <- struct{}{} }) }()
	expectChange(t, changes, 5*time.Second, "first subscription")

	r.Signal(syscall.SIGSTOP)
	began := time.Now()
	waitFor(t, feedIdle+feedProbe+3*time.Second, "Healthy false while frozen", func() bool { ok, _ := st.Healthy(); return !ok })
	t.Logf("frozen server noticed in %v", time.Since(began))
	drain(changes)
	r.Signal(syscall.SIGCONT)
	expectChange(t, changes, 5*time.Second, "resync after the server resumed")
	waitFor(t, time.Second, "Healthy true after resuming", func() bool { ok, _ := st.Healthy(); return ok })
}

// TestWatchCluster carries a notice between two instances through a
// Cluster client, whose subscription goes to the node owning the
// channel's slot.
func TestWatchCluster(t *testing.T) {
	r := redistest.StartCluster(t)
	a := newStore(t, newClient(t, Options{Addrs: []string{r.Addr()}, Cluster: true}), "acme")
	b := newStore(t, newClient(t, Options{Addrs: []string{r.Addr()}, Cluster: true}), "acme")
	changes := make(chan struct{}, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Watch(ctx, func() { changes <- struct{}{} })
	}()
	expectChange(t, changes, 5*time.Second, "first subscription")
	if ok, _ := b.Healthy(); !ok {
		t.Fatal("not healthy once subscribed")
	}
	expectChangeAfter(t, changes, func() { must(t, a.Notify(context.Background())) }, "Notify through the cluster")
	cancel()
	timer := time.NewTimer(2 * time.Second)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatal("Watch still running 2s after its context ended")
	}
}
