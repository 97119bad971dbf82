package redisstore

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// The change feed's timing. A quiet feed is probed after feedIdle; a probe
// unanswered after feedProbe drops the connection, which go-redis then
// dials again and resubscribes. Together they bound how long a silently
// dead connection (a partition, no reset) passes for a live one. Failed
// reconnections are retried between minRetry and maxRetry apart.
const (
	feedIdle  = time.Second
	feedProbe = time.Second
	minRetry  = 50 * time.Millisecond
	maxRetry  = time.Second
)

// changeNotice is the payload of a change notification. Subscribers only
// need to know that something changed: they reread the state.
const changeNotice = "changed"

// Notify implements policy.Watcher: it publishes on the tenant's channel.
func (s *Store) Notify(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if err := s.client.Publish(ctx, s.keys.changesKey, changeNotice).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Watch implements policy.Watcher. It subscribes to the tenant's channel
// and calls onChange for every notice, and once more each time the
// subscription is confirmed: at the start and after every reconnection,
// since notices sent meanwhile are lost. It returns nil once ctx is done.
// Healthy follows it, so run one Watch at a time per Store.
func (s *Store) Watch(ctx context.Context, onChange func()) error {
	ps := s.client.Subscribe(ctx, s.keys.changesKey)
	defer ps.Close()
	defer s.setConnected(false)
	// A blocked read ignores ctx; closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	retry := minRetry
	for {
		msg, err := ps.ReceiveTimeout(ctx, feedIdle)
		if isTimeout(err) && ctx.Err() == nil {
			msg, err = probe(ctx, ps)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.setConnected(false)
			t := time.NewTimer(retry)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			retry = min(2*retry, maxRetry)
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				s.setConnected(true)
				retry = minRetry
				onChange()
			}
		case *redis.Message:
			onChange()
		}
	}
}

// probe pings a quiet feed and waits at most feedProbe for anything. The
// wait is a deadline of the context, not a read timeout, so that go-redis
// counts running out of it as a broken connection and replaces it.
func probe(ctx context.Context, ps *redis.PubSub) (any, error) {
	if err := ps.Ping(ctx); err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, feedProbe)
	defer cancel()
	return ps.Receive(pctx)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Store) setConnected(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok == s.connected {
		return
	}
	s.connected = ok
	if !ok {
		s.downSince = s.now()
	}
}

// Healthy implements policy.Watcher. The feed is connected while a Watch
// holds a confirmed subscription; before the first confirmation it is
// reported down since the Store was made.
func (s *Store) Healthy() (bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected {
		return true, time.Time{}
	}
	return false, s.downSince
}
