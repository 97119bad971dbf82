package boltstore

import (
	"sync"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// renewedTable remembers the sessions that were renewed, each until its
// token could no longer be renewed anyway (its renew-until), so that an
// expired token starts one new session, not one per tab or replay.
type renewedTable struct {
	shards [tableShards]renewedShard
}

// minRenewedSweep is the fewest marks a shard holds before it looks for
// expired ones.
const minRenewedSweep = 1024

type renewedShard struct {
	mu    sync.Mutex
	until map[policy.SessionKey]int64 // unix seconds
	// sweepAt is the size at which expired marks are dropped next: twice
	// the size after the last drop, so the cost per mark stays constant.
	sweepAt int
}

func (r *renewedTable) init() {
	for i := range r.shards {
		r.shards[i].until = make(map[policy.SessionKey]int64)
		r.shards[i].sweepAt = minRenewedSweep
	}
}

func (r *renewedTable) shard(k policy.SessionKey) *renewedShard {
	return &r.shards[k[0]%tableShards]
}

// Restore marks a session renewed, as known from storage.
func (r *renewedTable) Restore(k policy.SessionKey, until int64, now int64) {
	if until <= now {
		return
	}
	sh := r.shard(k)
	sh.mu.Lock()
	sh.mark(k, until, now)
	sh.mu.Unlock()
}

// has reports whether k was renewed and the mark still holds at now;
// sh.mu is held.
func (sh *renewedShard) has(k policy.SessionKey, now int64) bool {
	until, ok := sh.until[k]
	return ok && until > now
}

// mark records that k was renewed; sh.mu is held.
func (sh *renewedShard) mark(k policy.SessionKey, until, now int64) {
	sh.until[k] = until
	if len(sh.until) < sh.sweepAt {
		return
	}
	for k, u := range sh.until {
		if u <= now {
			delete(sh.until, k)
		}
	}
	sh.sweepAt = max(minRenewedSweep, 2*len(sh.until))
}
