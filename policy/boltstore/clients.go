package boltstore

import (
	"sync"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// clientTable holds each client's live sessions, by the client's keyed
// hash (policy.ClientID), never its address. A client's sessions are
// counted and added while its shard is locked, around the capacity step,
// so concurrent admissions of one client are decided one after the other
// and never exceed its limit. Sessions ended early (their app turned off
// or its code reset) leave their client's list lazily: they are looked up
// in the session table only when the client is at its limit, so the
// common case costs one lock, one lookup and a length.
//
// Expired sessions leave a client's list when it is next read. Clients
// that do not come back are forgotten by a scan of their shard, made when
// the shard has doubled since the last one: a constant cost per new
// client, no queue to keep, and never more than about twice the clients
// holding live sessions (minClientScan at least).
type clientTable struct {
	shards [tableShards]clientShard
}

// minClientScan is the fewest clients a shard holds before it scans for
// clients whose sessions all expired.
const minClientScan = 1024

type clientShard struct {
	mu     sync.Mutex
	byID   map[policy.ClientID]heldSessions
	scanAt int // the size at which the shard is scanned next
}

// heldSessions are one client's sessions, earliest expiry first.
type heldSessions []queued[policy.SessionKey]

func (c *clientTable) init() {
	for i := range c.shards {
		c.shards[i].byID = make(map[policy.ClientID]heldSessions)
		c.shards[i].scanAt = minClientScan
	}
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
	held := cs.byID[a.Client].live(unix)
	if len(held) >= a.ClientLimit {
		held = t.dropEnded(held)
	}
	if len(held) >= a.ClientLimit {
		cs.byID[a.Client] = held
		if t.isLive(a.Session) { // a retried admission
			return policy.Verdict{Outcome: policy.Admitted}, int(t.live.Load())
		}
		return policy.Verdict{Outcome: policy.ClientFull, ClientFreeAt: held[0].exp}, int(t.live.Load())
	}
	ok, fresh, n := t.take(a.Session, a.Capacity, unix)
	if ok && fresh {
		held = held.with(a.Session)
	}
	cs.put(a.Client, held, unix)
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
func (c *clientTable) add(id policy.ClientID, rec policy.SessionRecord, now int64) {
	cs := c.shard(id)
	cs.mu.Lock()
	cs.put(id, cs.byID[id].live(now).with(rec), now)
	cs.mu.Unlock()
}

// put stores the client's sessions, forgetting the client when it holds
// none, and scans the shard when it has grown enough; cs.mu is held.
func (cs *clientShard) put(id policy.ClientID, held heldSessions, now int64) {
	if len(held) == 0 {
		delete(cs.byID, id)
		return
	}
	cs.byID[id] = held
	if len(cs.byID) < cs.scanAt {
		return
	}
	for id, h := range cs.byID {
		if h = h.live(now); len(h) == 0 {
			delete(cs.byID, id)
		} else {
			cs.byID[id] = h
		}
	}
	cs.scanAt = max(minClientScan, 2*len(cs.byID))
}

// live returns the sessions not expired at now.
func (h heldSessions) live(now int64) heldSessions {
	i := 0
	for i < len(h) && h[i].exp <= now {
		i++
	}
	return h[i:]
}

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
