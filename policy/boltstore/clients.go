package boltstore

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// clientTable holds each client's live sessions, by the client's keyed
// hash (policy.ClientID), never its address. A client's sessions are
// counted and added while its shard is locked, around the capacity step,
// so concurrent admissions of one client are decided one after the other
// and never exceed its limit. Sessions ended early (their app turned off
// or its code reset) leave their client's list lazily: they are looked up
// in the session table only when the client is at its limit, so the
// common case costs one lock and a length.
type clientTable struct {
	next    atomic.Int64 // earliest expiry possibly pending (a hint)
	sweepMu sync.Mutex
	shards  [tableShards]clientShard
}

type clientShard struct {
	mu    sync.Mutex
	byID  map[policy.ClientID]heldSessions
	queue expiryQueue[policy.ClientID]
}

func (c *clientTable) init() {
	for i := range c.shards {
		c.shards[i].byID = make(map[policy.ClientID]heldSessions)
	}
	c.next.Store(math.MaxInt64)
}

func (c *clientTable) shard(id policy.ClientID) *clientShard {
	return &c.shards[id[0]%tableShards]
}

// admitClient takes a slot for a.Session within the client's limit and
// the tenant's capacity, in one step under the client's lock.
func (t *sessionTable) admitClient(a policy.Admission, unix int64) (policy.Verdict, int) {
	if a.ClientLimit <= 0 {
		ok, _, n := t.take(a.Session, a.Capacity, unix)
		return capacityVerdict(ok), n
	}
	cs := t.clients.shard(a.Client)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	held := cs.live(a.Client, unix)
	if len(held) >= a.ClientLimit {
		held = t.dropEnded(held)
		cs.set(a.Client, held)
	}
	if len(held) >= a.ClientLimit {
		if t.isLive(a.Session) { // a retried admission
			return policy.Verdict{Outcome: policy.Admitted}, int(t.live.Load())
		}
		return policy.Verdict{Outcome: policy.ClientFull, ClientFreeAt: held[0].exp}, int(t.live.Load())
	}
	ok, fresh, n := t.take(a.Session, a.Capacity, unix)
	if ok && fresh {
		cs.byID[a.Client] = held.with(a.Session)
		cs.queue.push(a.Session.ExpiresAt, a.Client)
		t.clients.hint(a.Session.ExpiresAt)
	}
	return capacityVerdict(ok), n
}

func capacityVerdict(ok bool) policy.Verdict {
	if ok {
		return policy.Verdict{Outcome: policy.Admitted}
	}
	return policy.Verdict{Outcome: policy.CapacityFull}
}

// dropEnded keeps the sessions still live in the table.
func (t *sessionTable) dropEnded(held heldSessions) heldSessions {
	kept := held[:0]
	for _, s := range held {
		if t.isLive(policy.SessionRecord{Key: s.key, ExpiresAt: s.exp}) {
			kept = append(kept, s)
		}
	}
	return kept
}

// add records a session of a client known from storage.
func (c *clientTable) add(id policy.ClientID, rec policy.SessionRecord) {
	cs := c.shard(id)
	cs.mu.Lock()
	cs.byID[id] = cs.byID[id].with(rec)
	cs.queue.push(rec.ExpiresAt, id)
	cs.mu.Unlock()
	c.hint(rec.ExpiresAt)
}

func (c *clientTable) hint(exp int64) {
	for e := c.next.Load(); exp < e && !c.next.CompareAndSwap(e, exp); e = c.next.Load() {
	}
}

// live returns the client's sessions not expired at now, forgetting the
// others; cs.mu is held.
func (cs *clientShard) live(id policy.ClientID, now int64) heldSessions {
	held, ok := cs.byID[id]
	if !ok {
		return nil
	}
	i := 0
	for i < len(held) && held[i].exp <= now {
		i++
	}
	if i > 0 {
		held = held[i:]
		cs.set(id, held)
	}
	return held
}

// set replaces the client's sessions; cs.mu is held.
func (cs *clientShard) set(id policy.ClientID, held heldSessions) {
	if len(held) == 0 {
		delete(cs.byID, id)
		return
	}
	cs.byID[id] = held
}

// heldSessions are one client's sessions, earliest expiry first.
type heldSessions []queued[policy.SessionKey]

// with returns h with rec added in expiry order.
func (h heldSessions) with(rec policy.SessionRecord) heldSessions {
	i := len(h)
	for i > 0 && h[i-1].exp > rec.ExpiresAt {
		i--
	}
	h = append(h, queued[policy.SessionKey]{})
	copy(h[i+1:], h[i:])
	h[i] = queued[policy.SessionKey]{exp: rec.ExpiresAt, key: rec.Key}
	return h
}

// sweep forgets the sessions expired at now, and the clients left with
// none, once the earliest expiry has come and no other sweep is running.
func (c *clientTable) sweep(now int64) {
	if now < c.next.Load() || !c.sweepMu.TryLock() {
		return
	}
	defer c.sweepMu.Unlock()
	next := int64(math.MaxInt64)
	for i := range c.shards {
		cs := &c.shards[i]
		cs.mu.Lock()
		for e, ok := cs.queue.pop(now); ok; e, ok = cs.queue.pop(now) {
			cs.live(e.key, now)
		}
		if exp, ok := cs.queue.next(); ok {
			next = min(next, exp)
		}
		cs.mu.Unlock()
	}
	c.next.Store(next)
}
