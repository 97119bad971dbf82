package policy

import (
	"encoding/base64"
	"sync"
	"time"
)

// SessionKey is a session id in its compact, comparable form.
type SessionKey [sessionIDBytes]byte

// ParseSessionKey decodes a session id into its key.
func ParseSessionKey(id string) (SessionKey, bool) {
	var k SessionKey
	if base64.RawURLEncoding.DecodedLen(len(id)) != len(k) {
		return k, false
	}
	n, err := base64.RawURLEncoding.Decode(k[:], []byte(id))
	return k, err == nil && n == len(k)
}

// SessionRecord is what capacity tracking keeps of a live session:
// 16 bytes of id, the app and the expiry, nothing else.
type SessionRecord struct {
	Key       SessionKey
	App       string
	ExpiresAt int64 // unix seconds
}

// trackedSession holds no pointers (the app is an index into the table's
// app names), so the garbage collector never scans the session map, however
// many sessions are live.
type trackedSession struct {
	exp int64
	app uint32
}

type expiry struct {
	exp int64
	key SessionKey
}

// SessionTable counts the live anonymous sessions of one tenant and admits
// new ones against its capacity. Admission is exact: the check and the
// insert happen under one lock, so concurrent redemptions can never take
// the count past capacity. Expired sessions leave the count as soon as
// anything looks at it.
type SessionTable struct {
	mu       sync.Mutex
	byKey    map[SessionKey]trackedSession
	queue    []expiry // min-heap on exp
	apps     []string // app names by index
	appIndex map[string]uint32
	perApp   []int // live sessions by app index
	peak     int
}

// NewSessionTable returns an empty table.
func NewSessionTable() *SessionTable {
	return &SessionTable{byKey: make(map[SessionKey]trackedSession), appIndex: make(map[string]uint32)}
}

func (t *SessionTable) appLocked(name string) uint32 {
	if i, ok := t.appIndex[name]; ok {
		return i
	}
	i := uint32(len(t.apps))
	t.apps = append(t.apps, name)
	t.appIndex[name] = i
	t.perApp = append(t.perApp, 0)
	return i
}

// Admit adds a session if fewer than capacity are live at now. It returns
// whether it was admitted and how many sessions are live afterwards.
func (t *SessionTable) Admit(rec SessionRecord, capacity int, now time.Time) (bool, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now.Unix())
	if len(t.byKey) >= capacity {
		return false, len(t.byKey)
	}
	t.insertLocked(rec)
	if n := len(t.byKey); n > t.peak {
		t.peak = n
	}
	return true, len(t.byKey)
}

// Restore adds a session known from storage without a capacity check: it
// was admitted before, so it is counted again, never refused. The peak is
// restored separately (SetPeak).
func (t *SessionTable) Restore(rec SessionRecord, now time.Time) {
	if rec.ExpiresAt <= now.Unix() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byKey[rec.Key]; ok {
		return
	}
	t.insertLocked(rec)
}

func (t *SessionTable) insertLocked(rec SessionRecord) {
	app := t.appLocked(rec.App)
	t.byKey[rec.Key] = trackedSession{exp: rec.ExpiresAt, app: app}
	t.perApp[app]++
	t.push(expiry{exp: rec.ExpiresAt, key: rec.Key})
}

// EndApp ends every session of an app (turned off or code reset) and
// returns them.
func (t *SessionTable) EndApp(app string) []SessionRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.appIndex[app]
	if !ok || t.perApp[i] == 0 {
		return nil
	}
	var ended []SessionRecord
	for k, s := range t.byKey {
		if s.app == i {
			delete(t.byKey, k)
			ended = append(ended, SessionRecord{Key: k, App: app, ExpiresAt: s.exp})
		}
	}
	t.perApp[i] = 0
	// Their queue entries stay until they expire; expireLocked skips them.
	return ended
}

// Forget drops the given sessions if present (sessions ended early, when
// loading from storage).
func (t *SessionTable) Forget(keys []SessionKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		s, ok := t.byKey[k]
		if !ok {
			continue
		}
		delete(t.byKey, k)
		t.perApp[s.app]--
	}
}

// Expire drops sessions whose expiry is at or before now and returns them.
func (t *SessionTable) Expire(now time.Time) []SessionRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.expireLocked(now.Unix())
}

func (t *SessionTable) expireLocked(now int64) []SessionRecord {
	var gone []SessionRecord
	for len(t.queue) > 0 && t.queue[0].exp <= now {
		e := t.pop()
		s, ok := t.byKey[e.key]
		if !ok || s.exp != e.exp {
			continue
		}
		delete(t.byKey, e.key)
		t.perApp[s.app]--
		gone = append(gone, SessionRecord{Key: e.key, App: t.apps[s.app], ExpiresAt: s.exp})
	}
	return gone
}

// Usage is a snapshot of a tenant's sessions.
type Usage struct {
	// Active is the number of live sessions.
	Active int `json:"active"`
	// Peak is the highest Active seen.
	Peak int `json:"peak"`
	// PerApp is Active broken down by app.
	PerApp map[string]int `json:"per_app"`
}

// Usage returns the live count, the peak and the count per app at now.
func (t *SessionTable) Usage(now time.Time) Usage {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(now.Unix())
	per := make(map[string]int, len(t.perApp))
	for i, n := range t.perApp {
		if n > 0 {
			per[t.apps[i]] = n
		}
	}
	return Usage{Active: len(t.byKey), Peak: t.peak, PerApp: per}
}

// SetPeak raises the recorded peak to at least p (used when loading).
func (t *SessionTable) SetPeak(p int) {
	t.mu.Lock()
	if p > t.peak {
		t.peak = p
	}
	t.mu.Unlock()
}

func (t *SessionTable) push(e expiry) {
	t.queue = append(t.queue, e)
	i := len(t.queue) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if t.queue[parent].exp <= t.queue[i].exp {
			break
		}
		t.queue[parent], t.queue[i] = t.queue[i], t.queue[parent]
		i = parent
	}
}

func (t *SessionTable) pop() expiry {
	q := t.queue
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q[l].exp < q[m].exp {
			m = l
		}
		if r < len(q) && q[r].exp < q[m].exp {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	t.queue = q
	if cap(t.queue) > 1024 && len(t.queue) < cap(t.queue)/4 {
		t.queue = append(make([]expiry, 0, cap(t.queue)/2), t.queue...)
	}
	return top
}
