package redisstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// maxBatch bounds how many admissions share one script call.
const maxBatch = 128

// admission is one call of AdmitSession waiting for its answer.
type admission struct {
	policy.Admission
	now      time.Time
	deadline time.Time // after it, the caller has given up
	verdict  policy.Verdict
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

func (q *admissionQueue) admit(ctx context.Context, s *Store, a admission) (policy.Verdict, error) {
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
		return a.verdict, a.err
	case <-ctx.Done():
		// The admission may still reach the server; its slot then frees
		// when the session would have expired.
		return policy.Verdict{}, unavailable(ctx.Err())
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
	args := make([]any, 3, 3+9*len(batch))
	args[0], args[1], args[2] = k.appSessionsPrefix, k.clientSessionsPrefix, k.renewedPrefix
	for _, a := range batch {
		r := a.Session
		client, renews, until := "", "", int64(0)
		if a.ClientLimit > 0 {
			client = hex.EncodeToString(a.Client[:])
		}
		if a.Renews != nil {
			renews, until = hex.EncodeToString(a.Renews.Key[:]), a.Renews.Until
		}
		args = append(args, a.now.Unix(), a.Capacity, r.Key[:], r.App, r.ExpiresAt, client, a.ClientLimit, renews, until)
	}
	res, err := admitScript.Run(ctx, s.client, []string{k.sessions, k.sessionApps, k.peak}, args...).Int64Slice()
	if err == nil && len(res) != 2*len(batch) {
		err = fmt.Errorf("redis: admission script answered %d of %d", len(res)/2, len(batch))
	}
	for i, a := range batch {
		if err != nil {
			a.err = unavailable(err)
		} else {
			a.verdict = verdictOf(res[2*i], res[2*i+1])
		}
		close(a.done)
	}
}

// verdictOf reads admitScript's two numbers for one admission.
func verdictOf(outcome, freeAt int64) policy.Verdict {
	switch outcome {
	case 1:
		return policy.Verdict{Outcome: policy.Admitted}
	case 2:
		return policy.Verdict{Outcome: policy.ClientFull, ClientFreeAt: freeAt}
	case 3:
		return policy.Verdict{Outcome: policy.AlreadyRenewed}
	}
	return policy.Verdict{Outcome: policy.CapacityFull}
}
