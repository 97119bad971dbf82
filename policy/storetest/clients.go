package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// client makes the n-th test client's ID.
func client(n byte) policy.ClientID {
	var id policy.ClientID
	id[0], id[7], id[15] = n, 0x5A, n^0xFF
	return id
}

// forClient asks for rec as client c, within limit and capacity.
func forClient(rec policy.SessionRecord, c policy.ClientID, limit, capacity int) policy.Admission {
	return policy.Admission{Session: rec, Capacity: capacity, Client: c, ClientLimit: limit}
}

// admitConcurrently releases one admission per element of as together
// and returns their verdicts in the same order.
func admitConcurrently(t *testing.T, st policy.Store, as []policy.Admission, now time.Time) []policy.Verdict {
	t.Helper()
	out := make([]policy.Verdict, len(as))
	errs := make([]error, len(as))
	ready := make(chan struct{})
	var wg sync.WaitGroup
	for i, a := range as {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready // release them together, to contend for real
			out[i], errs[i] = st.AdmitSession(context.Background(), a, now)
		}()
	}
	close(ready)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent AdmitSession: %v", err)
		}
	}
	return out
}

// testClientLimitExact races many admissions of two clients: each gets
// exactly its limit, whatever the other does, and every refusal says when
// the client's first session ends.
func testClientLimitExact(t *testing.T, b Backing) {
	st := b.Open("acme", newClock().Now)
	const callers, limit = 300, 7
	exp := start.Add(15 * time.Minute)
	var as []policy.Admission
	for i := range callers {
		as = append(as, forClient(session(i, "market", exp), client(byte(i%2)), limit, 1000))
	}
	var admitted [2]int
	for i, v := range admitConcurrently(t, st, as, start) {
		switch v.Outcome {
		case policy.Admitted:
			admitted[i%2]++
		case policy.ClientFull:
			if v.ClientFreeAt != exp.Unix() {
				t.Fatalf("refusal %d: client free at %+d s, want when its first session ends (+900)", i, v.ClientFreeAt-start.Unix())
			}
		default:
			t.Fatalf("admission %d: outcome %d, want admitted or client full", i, v.Outcome)
		}
	}
	if admitted != [2]int{limit, limit} {
		t.Fatalf("admitted %v of %d concurrent admissions per client, want exactly the limit %d each", admitted, callers/2, limit)
	}
	wantUsage(t, st, start, 2*limit, 2*limit, map[string]int{"market": 2 * limit})
	// A third client is not held back by the two full ones.
	if v := decide(t, st, forClient(session(callers, "market", exp), client(2), limit, 1000), start); v.Outcome != policy.Admitted {
		t.Fatalf("another client: outcome %d, want admitted", v.Outcome)
	}
}

// testClientLimitAndCapacity races clients whose limits together exceed
// the capacity: the capacity is reached exactly and no client passes its
// limit.
func testClientLimitAndCapacity(t *testing.T, b Backing) {
	st := b.Open("acme", newClock().Now)
	const clients, perClient, limit, capacity = 5, 40, 4, 10
	exp := start.Add(15 * time.Minute)
	var as []policy.Admission
	for i := range clients * perClient {
		as = append(as, forClient(session(i, "market", exp), client(byte(i%clients)), limit, capacity))
	}
	var held [clients]int
	total := 0
	for i, v := range admitConcurrently(t, st, as, start) {
		switch v.Outcome {
		case policy.Admitted:
			held[i%clients]++
			total++
		case policy.ClientFull, policy.CapacityFull:
		default:
			t.Fatalf("admission %d: outcome %d", i, v.Outcome)
		}
	}
	if total != capacity {
		t.Fatalf("admitted %d, want exactly the capacity %d (per client %v)", total, capacity, held)
	}
	for c, n := range held {
		if n > limit {
			t.Fatalf("client %d holds %d sessions, past its limit %d", c, n, limit)
		}
	}
	// A client below its limit is refused for capacity, not for itself.
	for c, n := range held {
		if n < limit {
			v := decide(t, st, forClient(session(1000+c, "market", exp), client(byte(c)), limit, capacity), start)
			if v.Outcome != policy.CapacityFull {
				t.Fatalf("client %d below its limit at capacity: outcome %d, want capacity full", c, v.Outcome)
			}
		}
	}
}

// testClientLimitFrees checks that a client's share frees exactly when its
// sessions expire, or end early, and that without a limit nothing is
// counted against a client.
func testClientLimitFrees(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	me, other := client(1), client(2)
	for i, d := range []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second} {
		if v := decide(t, st, forClient(session(i, "market", at(d)), me, 3, 100), start); v.Outcome != policy.Admitted {
			t.Fatalf("session %d below the limit: outcome %d", i, v.Outcome)
		}
	}
	v := decide(t, st, forClient(session(10, "market", at(time.Hour)), me, 3, 100), at(9*time.Second))
	if v.Outcome != policy.ClientFull || v.ClientFreeAt != at(10*time.Second).Unix() {
		t.Fatalf("at the limit: %+v, want client full until +10 s", v)
	}
	// A retried admission of a live session is admitted, not refused.
	if v := decide(t, st, forClient(session(1, "market", at(20*time.Second)), me, 3, 100), at(9*time.Second)); v.Outcome != policy.Admitted {
		t.Fatalf("a live session admitted again at the limit: outcome %d", v.Outcome)
	}
	if v := decide(t, st, forClient(session(11, "market", at(time.Hour)), other, 3, 100), at(9*time.Second)); v.Outcome != policy.Admitted {
		t.Fatalf("another client: outcome %d", v.Outcome)
	}
	if v := decide(t, st, forClient(session(12, "market", at(time.Hour)), me, 3, 100), at(10*time.Second)); v.Outcome != policy.Admitted {
		t.Fatalf("at the first expiry: outcome %d, want admitted", v.Outcome)
	}
	v = decide(t, st, forClient(session(13, "market", at(time.Hour)), me, 3, 100), at(10*time.Second))
	if v.Outcome != policy.ClientFull || v.ClientFreeAt != at(20*time.Second).Unix() {
		t.Fatalf("full again: %+v, want client full until +20 s", v)
	}
	// Sessions ended early free their client's share at once.
	if v := decide(t, st, forClient(session(14, "sales", at(time.Hour)), other, 3, 100), at(10*time.Second)); v.Outcome != policy.Admitted {
		t.Fatalf("other client's sales session: outcome %d", v.Outcome)
	}
	must(t, st.EndSessions(ctx, "market"))
	for i := 15; i < 18; i++ {
		if v := decide(t, st, forClient(session(i, "sales", at(time.Hour)), me, 3, 100), at(10*time.Second)); v.Outcome != policy.Admitted {
			t.Fatalf("after EndSessions, session %d: outcome %d, want admitted", i, v.Outcome)
		}
	}
	if v := decide(t, st, forClient(session(18, "sales", at(time.Hour)), me, 3, 100), at(10*time.Second)); v.Outcome != policy.ClientFull {
		t.Fatalf("past the limit after EndSessions: outcome %d", v.Outcome)
	}
	// Without a limit, a client is not counted.
	for i := 20; i < 25; i++ {
		if v := decide(t, st, forClient(session(i, "sales", at(time.Hour)), client(3), 0, 100), at(10*time.Second)); v.Outcome != policy.Admitted {
			t.Fatalf("no limit, session %d: outcome %d", i, v.Outcome)
		}
	}
	wantUsage(t, st, at(10*time.Second), 9, 9, map[string]int{"sales": 9})
}

// renewal asks for session n as a renewal of the session with key old.
func renewal(n int, old policy.SessionRecord, until time.Time) policy.Admission {
	return policy.Admission{
		Session:  session(n, old.App, until.Add(-time.Hour)),
		Capacity: 100, Client: client(1), ClientLimit: 10,
		Renews: &policy.Renewal{Key: old.Key, Until: until.Unix()},
	}
}

// testRenewOnce checks that an expired session is renewed once: many
// concurrent renewals of it (tabs, replays) start one session, a renewal
// refused for capacity leaves it renewable, and the mark lasts until the
// renew-until.
func testRenewOnce(t *testing.T, b Backing) {
	st := b.Open("acme", newClock().Now)
	until := start.Add(12 * time.Hour)
	old := session(0, "market", start)
	var as []policy.Admission
	for i := 1; i <= 50; i++ {
		as = append(as, renewal(i, old, until))
	}
	n := 0
	for i, v := range admitConcurrently(t, st, as, start) {
		switch v.Outcome {
		case policy.Admitted:
			n++
		case policy.AlreadyRenewed:
		default:
			t.Fatalf("renewal %d: outcome %d", i, v.Outcome)
		}
	}
	if n != 1 {
		t.Fatalf("%d concurrent renewals of one session admitted, want exactly 1", n)
	}
	// Refused for capacity: the session has not been renewed.
	other := session(100, "market", start)
	full := renewal(101, other, until)
	full.Capacity = 1
	if v := decide(t, st, full, start); v.Outcome != policy.CapacityFull {
		t.Fatalf("renewal at capacity: outcome %d", v.Outcome)
	}
	if v := decide(t, st, renewal(102, other, until), start); v.Outcome != policy.Admitted {
		t.Fatalf("renewal after a refusal for capacity: outcome %d, want admitted", v.Outcome)
	}
	if v := decide(t, st, renewal(60, old, until), start.Add(11*time.Hour)); v.Outcome != policy.AlreadyRenewed {
		t.Fatalf("renewed again later: outcome %d, want already renewed", v.Outcome)
	}
	if v := decide(t, st, renewal(103, old, until), until); v.Outcome != policy.Admitted {
		t.Fatalf("at the renew-until, the mark is gone: outcome %d, want admitted", v.Outcome)
	}
}

// testClientDurable restarts the backing store: a full client stays full
// and a renewed session stays renewed.
func testClientDurable(t *testing.T, b Backing) {
	if b.Restart == nil {
		t.Skip("this backing store cannot be restarted")
	}
	clock := newClock()
	st := b.Open("acme", clock.Now)
	exp := start.Add(15 * time.Minute)
	for i := range 3 {
		if v := decide(t, st, forClient(session(i, "market", exp), client(1), 3, 100), start); v.Outcome != policy.Admitted {
			t.Fatalf("session %d: outcome %d", i, v.Outcome)
		}
	}
	until := start.Add(12 * time.Hour)
	old := session(50, "market", start)
	if v := decide(t, st, renewal(51, old, until), start); v.Outcome != policy.Admitted {
		t.Fatalf("renewal: outcome %d", v.Outcome)
	}

	b.Restart()
	clock.Advance(time.Minute)
	now := clock.Now()
	st = b.Open("acme", clock.Now)
	v := decide(t, st, forClient(session(10, "market", exp), client(1), 3, 100), now)
	if v.Outcome != policy.ClientFull || v.ClientFreeAt != exp.Unix() {
		t.Fatalf("client after restart: %+v, want still full until its first session ends", v)
	}
	if v := decide(t, st, renewal(52, old, until), now); v.Outcome != policy.AlreadyRenewed {
		t.Fatalf("renewal after restart: outcome %d, want already renewed", v.Outcome)
	}
}
