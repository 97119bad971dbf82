package boltstore

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// trackedSession holds no pointers (the app is an index into the table's
// app names), so the garbage collector never scans the session map, however
// many sessions are live.
type trackedSession struct {
	exp int64
	app uint32
}

// tableShards spreads sessions over independently locked shards, so
// concurrent redemptions do not queue on one lock.
const tableShards = 16

// sessionTable counts the live anonymous sessions of one tenant and admits
// new ones against its capacity, each client's limit and the renewals
// already made. Admission is exact: a slot is taken by a compare-and-swap
// on the live count that never goes past capacity, while the client's
// shard is locked (clients.go), so concurrent redemptions can exceed
// neither. Expired sessions are swept lazily, and always before a
// redemption is refused, so a slot is free the moment its session's time
// is up.
type sessionTable struct {
	live    atomic.Int64
	peak    atomic.Int64
	nextExp atomic.Int64 // earliest expiry possibly pending (a hint)
	sweepMu sync.Mutex
	shards  [tableShards]tableShard
	clients clientTable
	renewed renewedTable

	appsMu   sync.RWMutex
	apps     []string // app names by index
	appIndex map[string]uint32
}

type tableShard struct {
	mu     sync.Mutex
	byKey  map[policy.SessionKey]trackedSession
	queue  expiryQueue[policy.SessionKey]
	perApp []int // live sessions by app index
}

// newSessionTable returns an empty table.
func newSessionTable() *sessionTable {
	t := &sessionTable{appIndex: make(map[string]uint32)}
	for i := range t.shards {
		t.shards[i].byKey = make(map[policy.SessionKey]trackedSession)
	}
	t.nextExp.Store(math.MaxInt64)
	t.clients.init()
	t.renewed.init()
	return t
}

func (t *sessionTable) appID(name string) uint32 {
	t.appsMu.RLock()
	i, ok := t.appIndex[name]
	t.appsMu.RUnlock()
	if ok {
		return i
	}
	t.appsMu.Lock()
	defer t.appsMu.Unlock()
	if i, ok := t.appIndex[name]; ok {
		return i
	}
	i = uint32(len(t.apps))
	t.apps = append(t.apps, name)
	t.appIndex[name] = i
	return i
}

func (t *sessionTable) appName(i uint32) string {
	t.appsMu.RLock()
	defer t.appsMu.RUnlock()
	return t.apps[i]
}

func (t *sessionTable) shard(k policy.SessionKey) *tableShard { return &t.shards[k[0]%tableShards] }

// Admit decides an admission at now (see policy.Store.AdmitSession) and
// returns its verdict and how many sessions are live afterwards. Locks are
// taken in one order: the renewed session's shard, the client's shard,
// then session shards; nothing takes them the other way round.
func (t *sessionTable) Admit(a policy.Admission, now time.Time) (policy.Verdict, int) {
	unix := now.Unix()
	t.sweep(unix, false)
	if a.Renews == nil {
		return t.admitClient(a, unix)
	}
	sh := t.renewed.shard(a.Renews.Key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.has(a.Renews.Key, unix) {
		if t.isLive(a.Session) { // a retried admission
			return policy.Verdict{Outcome: policy.Admitted}, int(t.live.Load())
		}
		return policy.Verdict{Outcome: policy.AlreadyRenewed}, int(t.live.Load())
	}
	v, n := t.admitClient(a, unix)
	if v.Outcome == policy.Admitted {
		sh.mark(a.Renews.Key, a.Renews.Until, unix)
	}
	return v, n
}

// take adds a session if fewer than capacity are live at now. It returns
// whether it was admitted, whether it was new (not a retried admission of
// a live one) and how many sessions are live afterwards.
func (t *sessionTable) take(rec policy.SessionRecord, capacity int, unix int64) (ok, fresh bool, live int) {
	swept := false
	for {
		n := t.live.Load()
		if n >= int64(capacity) {
			if swept {
				return false, false, int(n)
			}
			t.sweep(unix, true)
			swept = true
			continue
		}
		if t.live.CompareAndSwap(n, n+1) {
			if !t.insert(rec) {
				// Already live (a retried admission): counted once.
				t.live.Add(-1)
				return true, false, int(t.live.Load())
			}
			for p := t.peak.Load(); n+1 > p && !t.peak.CompareAndSwap(p, n+1); p = t.peak.Load() {
			}
			return true, true, int(n + 1)
		}
	}
}

// isLive reports whether rec's session is live, as admitted.
func (t *sessionTable) isLive(rec policy.SessionRecord) bool {
	sh := t.shard(rec.Key)
	sh.mu.Lock()
	s, ok := sh.byKey[rec.Key]
	sh.mu.Unlock()
	return ok && s.exp == rec.ExpiresAt
}

// Restore adds a session known from storage without a capacity check: it
// was admitted before, so it is counted again, never refused, and for its
// client when it had one. The peak is restored separately (SetPeak).
func (t *sessionTable) Restore(rec policy.SessionRecord, client *policy.ClientID, now time.Time) {
	if rec.ExpiresAt <= now.Unix() {
		return
	}
	t.live.Add(1)
	if !t.insert(rec) {
		t.live.Add(-1)
		return
	}
	if client != nil {
		t.clients.add(*client, rec, now.Unix())
	}
}

// insert adds a session unless its key is already live, and reports
// whether it did.
func (t *sessionTable) insert(rec policy.SessionRecord) bool {
	app := t.appID(rec.App)
	sh := t.shard(rec.Key)
	sh.mu.Lock()
	if _, dup := sh.byKey[rec.Key]; dup {
		sh.mu.Unlock()
		return false
	}
	sh.byKey[rec.Key] = trackedSession{exp: rec.ExpiresAt, app: app}
	for int(app) >= len(sh.perApp) {
		sh.perApp = append(sh.perApp, 0)
	}
	sh.perApp[app]++
	sh.queue.push(rec.ExpiresAt, rec.Key)
	sh.mu.Unlock()
	for e := t.nextExp.Load(); rec.ExpiresAt < e && !t.nextExp.CompareAndSwap(e, rec.ExpiresAt); e = t.nextExp.Load() {
	}
	return true
}

// sweep drops expired sessions. Unless forced it only runs when the
// earliest expiry has come and no other sweep is running.
func (t *sessionTable) sweep(now int64, force bool) {
	if !force && now < t.nextExp.Load() {
		return
	}
	if force {
		t.sweepMu.Lock()
	} else if !t.sweepMu.TryLock() {
		return
	}
	defer t.sweepMu.Unlock()
	next := int64(math.MaxInt64)
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for e, ok := sh.queue.pop(now); ok; e, ok = sh.queue.pop(now) {
			s, ok := sh.byKey[e.key]
			if !ok || s.exp != e.exp {
				continue // ended early
			}
			delete(sh.byKey, e.key)
			sh.perApp[s.app]--
			t.live.Add(-1)
		}
		if exp, ok := sh.queue.next(); ok {
			next = min(next, exp)
		}
		sh.mu.Unlock()
	}
	t.nextExp.Store(next)
}

// EndApp ends every session of an app (turned off or code reset) and
// returns them.
func (t *sessionTable) EndApp(app string) []policy.SessionRecord {
	t.appsMu.RLock()
	i, ok := t.appIndex[app]
	t.appsMu.RUnlock()
	if !ok {
		return nil
	}
	var ended []policy.SessionRecord
	for s := range t.shards {
		sh := &t.shards[s]
		sh.mu.Lock()
		if int(i) < len(sh.perApp) && sh.perApp[i] > 0 {
			for k, ts := range sh.byKey {
				if ts.app == i {
					delete(sh.byKey, k)
					ended = append(ended, policy.SessionRecord{Key: k, App: app, ExpiresAt: ts.exp})
				}
			}
			t.live.Add(-int64(sh.perApp[i]))
			sh.perApp[i] = 0
		}
		// Their queue entries stay until they expire; sweep skips them.
		sh.mu.Unlock()
	}
	return ended
}

// Forget drops the given sessions if present (sessions ended early, when
// loading from storage).
func (t *sessionTable) Forget(keys []policy.SessionKey) {
	for _, k := range keys {
		sh := t.shard(k)
		sh.mu.Lock()
		if s, ok := sh.byKey[k]; ok {
			delete(sh.byKey, k)
			sh.perApp[s.app]--
			t.live.Add(-1)
		}
		sh.mu.Unlock()
	}
}

// policy.Usage returns the live count, the peak and the count per app at now.
func (t *sessionTable) Usage(now time.Time) policy.Usage {
	t.sweep(now.Unix(), true)
	counts := map[uint32]int{}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for app, n := range sh.perApp {
			if n > 0 {
				counts[uint32(app)] += n
			}
		}
		sh.mu.Unlock()
	}
	per := make(map[string]int, len(counts))
	for app, n := range counts {
		per[t.appName(app)] = n
	}
	return policy.Usage{Active: int(t.live.Load()), Peak: int(t.peak.Load()), PerApp: per}
}

// SetPeak raises the recorded peak to at least p (used when loading).
func (t *sessionTable) SetPeak(p int) {
	for old := t.peak.Load(); int64(p) > old && !t.peak.CompareAndSwap(old, int64(p)); old = t.peak.Load() {
	}
}
