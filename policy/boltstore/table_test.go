package boltstore

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

func rec(i byte, app string, exp int64) policy.SessionRecord {
	var k policy.SessionKey
	k[0] = i
	return policy.SessionRecord{Key: k, App: app, ExpiresAt: exp}
}

// admitCap asks tab for rec within capacity alone.
func admitCap(tab *sessionTable, rec policy.SessionRecord, capacity int, now time.Time) (bool, int) {
	v, n := tab.Admit(policy.Admission{Session: rec, Capacity: capacity}, now)
	return v.Outcome == policy.Admitted, n
}

func TestSessionTable(t *testing.T) {
	now := time.Unix(1000, 0)
	tab := newSessionTable()
	for i := byte(0); i < 3; i++ {
		if ok, _ := admitCap(tab, rec(i, "a", 1000+int64(i)+10), 3, now); !ok {
			t.Fatalf("admit %d refused", i)
		}
	}
	if ok, n := admitCap(tab, rec(9, "b", 2000), 3, now); ok || n != 3 {
		t.Fatalf("admitted past capacity: %v %d", ok, n)
	}
	// The first session expires at 1010: its slot frees exactly then.
	if ok, _ := admitCap(tab, rec(9, "b", 2000), 3, time.Unix(1009, 0)); ok {
		t.Fatal("admitted before any expiry")
	}
	if ok, _ := admitCap(tab, rec(9, "b", 2000), 3, time.Unix(1010, 0)); !ok {
		t.Fatal("slot not freed at expiry")
	}
	u := tab.Usage(time.Unix(1010, 0))
	if u.Active != 3 || u.PerApp["a"] != 2 || u.PerApp["b"] != 1 || u.Peak != 3 {
		t.Fatalf("usage %+v", u)
	}
	ended := tab.EndApp("a")
	if len(ended) != 2 {
		t.Fatalf("ended %d, want 2", len(ended))
	}
	u = tab.Usage(time.Unix(1010, 0))
	if u.Active != 1 || u.PerApp["a"] != 0 || u.Peak != 3 {
		t.Fatalf("after EndApp %+v", u)
	}
	// Stale queue entries of ended sessions must not drop live ones.
	u = tab.Usage(time.Unix(1999, 0))
	if u.Active != 1 {
		t.Fatalf("live session dropped by stale entries: %+v", u)
	}
	tab.Restore(rec(7, "c", 3000), nil, time.Unix(1999, 0))
	tab.Restore(rec(8, "c", 1500), nil, time.Unix(1999, 0)) // already expired
	if u := tab.Usage(time.Unix(1999, 0)); u.Active != 2 || u.Peak != 3 {
		t.Fatalf("after Restore %+v", u)
	}
	tab.Forget([]policy.SessionKey{rec(7, "", 0).Key})
	if u := tab.Usage(time.Unix(2000, 0)); u.Active != 0 || len(u.PerApp) != 0 {
		t.Fatalf("after Forget and expiry %+v", u)
	}
}

// TestSessionTableMemory keeps the tracking cost per live session within
// the design's 200 bytes.
func TestSessionTableMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100 000 sessions")
	}
	const n = 100_000
	tab := newSessionTable()
	now := time.Unix(1000, 0)
	before := heapInUse()
	for i := 0; i < n; i++ {
		var k policy.SessionKey
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		admitCap(tab, policy.SessionRecord{Key: k, App: "market", ExpiresAt: 2000 + int64(i%900)}, n, now)
	}
	per := float64(heapInUse()-before) / n
	if per > 200 {
		t.Fatalf("%.0f bytes per tracked session, want at most 200", per)
	}
	t.Logf("%.0f bytes per tracked session", per)
	if tab.Usage(now).Active != n {
		t.Fatal("lost sessions")
	}
}

// TestSessionTableMemoryWithClients is the same with client_sessions on,
// each session from a client of its own (the most a client costs): the
// client's list and its queue entry come on top.
func TestSessionTableMemoryWithClients(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100 000 sessions")
	}
	const n = 100_000
	tab := newSessionTable()
	now := time.Unix(1000, 0)
	before := heapInUse()
	for i := 0; i < n; i++ {
		a := policy.Admission{Capacity: n, ClientLimit: 10}
		a.Session = policy.SessionRecord{App: "market", ExpiresAt: 2000 + int64(i%900)}
		a.Session.Key[0], a.Session.Key[1], a.Session.Key[2] = byte(i), byte(i>>8), byte(i>>16)
		a.Client[0], a.Client[1], a.Client[2] = byte(i), byte(i>>8), byte(i>>16)
		if v, _ := tab.Admit(a, now); v.Outcome != policy.Admitted {
			t.Fatalf("session %d: outcome %d", i, v.Outcome)
		}
	}
	per := float64(heapInUse()-before) / n
	runtime.KeepAlive(tab)
	if per > 250 {
		t.Fatalf("%.0f bytes per tracked session and client, want at most 250", per)
	}
	t.Logf("%.0f bytes per tracked session and client", per)
}

// TestSessionTableClientsForgetExpired checks that clients whose sessions
// all expired are forgotten without coming back: 200 000 clients, one
// session each, at most 1 000 live at a time, leave no more than about
// twice the live clients, or the scans' floor, behind.
func TestSessionTableClientsForgetExpired(t *testing.T) {
	tab := newSessionTable()
	const clients, perSecond = 200_000, 100
	for i := 0; i < clients; i++ {
		now := int64(1000 + i/perSecond)
		a := policy.Admission{Capacity: clients, ClientLimit: 3}
		a.Session = policy.SessionRecord{App: "a", ExpiresAt: now + 10}
		binary.BigEndian.PutUint32(a.Session.Key[:], uint32(i))
		binary.BigEndian.PutUint32(a.Client[12:], uint32(i))
		a.Client[0] = byte(i)
		if v, _ := tab.Admit(a, time.Unix(now, 0)); v.Outcome != policy.Admitted {
			t.Fatalf("client %d: outcome %d", i, v.Outcome)
		}
	}
	held := 0
	for i := range tab.clients.shards {
		held += len(tab.clients.shards[i].byID)
	}
	if limit := tableShards * 2 * minClientScan; held > limit {
		t.Fatalf("%d clients kept, want at most %d (1 000 live)", held, limit)
	}
}

// TestSessionTableNeverExceedsCapacity races admissions, expiry sweeps and
// an app ending against each other: the live count must never pass
// capacity, and at the end it must equal what the map holds.
func TestSessionTableNeverExceedsCapacity(t *testing.T) {
	const capacity = 50
	tab := newSessionTable()
	var wg sync.WaitGroup
	var over atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				var k policy.SessionKey
				k[0], k[1], k[2], k[3] = byte(g), byte(i), byte(i>>8), 1
				now := time.Unix(int64(1000+i/100), 0)
				app := "a"
				if i%3 == 0 {
					app = "b"
				}
				if _, n := admitCap(tab, policy.SessionRecord{Key: k, App: app, ExpiresAt: now.Unix() + 3}, capacity, now); n > capacity {
					over.Add(1)
				}
				if i%500 == 0 {
					tab.EndApp("b")
				}
			}
		}()
	}
	wg.Wait()
	if over.Load() > 0 {
		t.Fatalf("the live count passed capacity %d times", over.Load())
	}
	u := tab.Usage(time.Unix(1000, 0))
	held := 0
	for i := range tab.shards {
		held += len(tab.shards[i].byKey)
	}
	if u.Active != held || u.Active > capacity || u.PerApp["a"]+u.PerApp["b"] != held {
		t.Fatalf("count %d, held %d, per app %v", u.Active, held, u.PerApp)
	}
}

func TestSessionTableCountsARetriedAdmissionOnce(t *testing.T) {
	tab := newSessionTable()
	now := time.Unix(1000, 0)
	r := rec(1, "a", 2000)
	for i := 0; i < 3; i++ {
		if ok, n := admitCap(tab, r, 5, now); !ok || n != 1 {
			t.Fatalf("admission %d: %v %d, want admitted with 1 live", i, ok, n)
		}
	}
	tab.Restore(r, nil, now)
	if u := tab.Usage(now); u.Active != 1 || u.PerApp["a"] != 1 {
		t.Fatalf("usage %+v", u)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
