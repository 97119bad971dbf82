package redis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// maxBatch bounds how many admissions share one pipeline.
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
// trip costs the gateway two system calls and the server two more, which
// dominate an admission; under load many admissions wait at the same time,
// and one pipeline answers them all. Nothing waits to fill a batch: when
// no pipeline is in flight, a goroutine starts and sends whatever is
// queued, then anything queued meanwhile, and ends when the queue is
// empty. A lone admission goes out at once.
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

// sendAdmissions runs each admission's script in one pipeline, loading the
// script first when the server does not know it (a restart empties its
// script cache).
func (s *Store) sendAdmissions(batch []*admission) {
	ctx, cancel := withTimeout(context.Background())
	defer cancel()
	cmds, err := s.pipeAdmissions(ctx, batch)
	if err != nil && isNoScript(err) {
		if err = admitScript.Load(ctx, s.client).Err(); err == nil {
			cmds, err = s.pipeAdmissions(ctx, batch)
		}
	}
	for i, a := range batch {
		switch {
		case cmds != nil && cmds[i].Err() == nil:
			n, cerr := cmds[i].Int()
			a.ok, a.err = n == 1, cerr
		case cmds != nil:
			a.err = cmds[i].Err()
		default:
			a.err = err
		}
		if a.err != nil {
			a.ok, a.err = false, unavailable(a.err)
		}
		close(a.done)
	}
}

func (s *Store) pipeAdmissions(ctx context.Context, batch []*admission) ([]*goredis.Cmd, error) {
	k := s.keys
	cmds := make([]*goredis.Cmd, len(batch))
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, a := range batch {
			cmds[i] = admitScript.EvalSha(ctx, p,
				[]string{k.sessions, k.appSessions(a.rec.App), k.sessionApps, k.peak},
				a.now.Unix(), a.capacity, a.rec.Key[:], a.rec.App, a.rec.ExpiresAt, k.appSessionsPrefix)
		}
		return nil
	})
	if err != nil {
		for _, c := range cmds {
			if c != nil && isNoScript(c.Err()) {
				return nil, c.Err()
			}
		}
	}
	return cmds, err
}

func isNoScript(err error) bool {
	var rerr goredis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "NOSCRIPT")
}
