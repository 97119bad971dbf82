package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// maxBatch bounds how many admissions share one script call.
const maxBatch = 128

// admission is one call of AdmitSession waiting for its answer.
type admission struct {
	rec      policy.SessionRecord
	capacity int
	now      time.Time
	deadline time.Time // after it, the caller has given up
	ok       bool
	err      error
	done     chan struct{}
}

// admissionQueue sends concurrent admissions to Redis together. A round
// trip costs the gateway two system calls and the server two more, and a
// script call has its own cost on the server; under load many admissions
// wait at the same time, and one script call answers them all. Nothing
// waits to fill a batch: when no batch is in flight, a goroutine starts
// and sends whatever is queued, then anything queued meanwhile, and ends
// when the queue is empty. A lone admission goes out at once.
type admissionQueue struct {
	mu      sync.Mutex
	queue   []*admission
	sending bool
}

func (q *admissionQueue) admit(ctx context.Context, s *Store, a admission) (bool, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	a.deadline, _ = ctx.Deadline()
	a.done = make(chan struct{})
	q.mu.Lock()
	q.queue = append(q.queue, &a)
	if !q.sending {
		q.sending = true
		go q.drain(s)
	}
	q.mu.Unlock()
	select {
	case <-a.done:
		return a.ok, a.err
	case <-ctx.Done():
		// The admission may still reach the server; its slot then frees
		// when the session would have expired.
		return false, unavailable(ctx.Err())
	}
}

// drain sends the queue in batches until it is empty. Admissions whose
// callers have given up are not sent.
func (q *admissionQueue) drain(s *Store) {
	for {
		q.mu.Lock()
		n := min(len(q.queue), maxBatch)
		batch := q.queue[:n:n]
		q.queue = q.queue[n:]
		if n == 0 {
			q.queue = nil
			q.sending = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		now := time.Now()
		live := batch[:0:0]
		for _, a := range batch {
			if now.After(a.deadline) {
				a.err = unavailable(context.DeadlineExceeded)
				close(a.done)
				continue
			}
			live = append(live, a)
		}
		if len(live) > 0 {
			s.sendAdmissions(live)
		}
	}
}

// sendAdmissions runs the batch in one script call (Script.Run sends the
// script itself when the server does not know it: a restart empties its
// script cache).
func (s *Store) sendAdmissions(batch []*admission) {
	ctx, cancel := withTimeout(context.Background())
	defer cancel()
	k := s.keys
	args := make([]any, 1, 1+5*len(batch))
	args[0] = k.appSessionsPrefix
	for _, a := range batch {
		args = append(args, a.now.Unix(), a.capacity, a.rec.Key[:], a.rec.App, a.rec.ExpiresAt)
	}
	res, err := admitScript.Run(ctx, s.client, []string{k.sessions, k.sessionApps, k.peak}, args...).Int64Slice()
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("redis: admission script answered %d of %d", len(res), len(batch))
	}
	for i, a := range batch {
		if err != nil {
			a.err = unavailable(err)
		} else {
			a.ok = res[i] == 1
		}
		close(a.done)
	}
}
