package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"go.etcd.io/bbolt"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// FlushInterval is how often admitted and ended sessions are written to the
// file. Spaces, apps, codes and on/off state are written synchronously;
// session bookkeeping is written behind, so a crash forgets at most this
// much of it (a graceful stop or reload forgets nothing).
const FlushInterval = 100 * time.Millisecond

// Sessions are stored in batches, one value per flush, keyed by the latest
// expiry in the batch and a sequence number. A flush is then one Put
// however many sessions started, and a whole batch leaves the file once
// its last session has expired. Sessions ended early (app turned off,
// code reset) are recorded the same way in the "ended" bucket, and
// sessions renewed (so that their tokens renew once) in "renewed", keyed
// by the latest renew-until instead. A session counted for a client
// carries the client's ID (a keyed hash, never an address), flagged by
// the top bit of the app's length, which app ids (at most 64 bytes) never
// use; files written before client_sessions read as they are.
//
//	sessions: maxExp(8) seq(8)   -> { key(16) exp(8) len(1) app [client(16)] }...
//	ended:    maxExp(8) seq(8)   -> { key(16) }...
//	renewed:  maxUntil(8) seq(8) -> { key(16) until(8) }...

const (
	keyLen     = len(policy.SessionKey{})
	clientLen  = len(policy.ClientID{})
	hasClient  = 0x80
	renewedLen = keyLen + 8
)

func appendSession(b []byte, a policy.Admission) []byte {
	r := a.Session
	b = append(b, r.Key[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.ExpiresAt))
	if a.ClientLimit <= 0 {
		b = append(b, byte(len(r.App)))
		return append(b, r.App...)
	}
	b = append(b, byte(len(r.App))|hasClient)
	b = append(b, r.App...)
	return append(b, a.Client[:]...)
}

var errCorruptBatch = errors.New("corrupt session batch")

// readSession decodes the session at the start of v and returns the rest.
func readSession(v []byte) (r policy.SessionRecord, client *policy.ClientID, rest []byte, err error) {
	if len(v) < keyLen+9 {
		return r, nil, nil, errCorruptBatch
	}
	copy(r.Key[:], v)
	r.ExpiresAt = int64(binary.BigEndian.Uint64(v[keyLen:]))
	n := int(v[keyLen+8])
	v = v[keyLen+9:]
	withClient := n&hasClient != 0
	n &^= hasClient
	if len(v) < n {
		return r, nil, nil, errCorruptBatch
	}
	r.App = string(v[:n])
	v = v[n:]
	if withClient {
		if len(v) < clientLen {
			return r, nil, nil, errCorruptBatch
		}
		client = new(policy.ClientID)
		copy(client[:], v)
		v = v[clientLen:]
	}
	return r, client, v, nil
}

// load restores live sessions at open, minus those ended early, and drops
// batches that have fully expired.
func (s *Store) load(tb *bbolt.Bucket, now time.Time) error {
	if v := tb.Bucket(bucketMeta).Get(keyPeak); len(v) == 8 {
		s.peak = int(binary.BigEndian.Uint64(v))
		s.table.SetPeak(s.peak)
	}
	if err := dropExpired(tb, now); err != nil {
		return err
	}
	sb := tb.Bucket(bucketSessions)
	err := sb.ForEach(func(k, v []byte) error {
		s.noteSeq(k)
		for len(v) > 0 {
			r, client, rest, err := readSession(v)
			if err != nil {
				return err
			}
			s.table.Restore(r, client, now)
			v = rest
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = tb.Bucket(bucketRenewed).ForEach(func(k, v []byte) error {
		s.noteSeq(k)
		for ; len(v) >= renewedLen; v = v[renewedLen:] {
			var key policy.SessionKey
			copy(key[:], v)
			s.table.renewed.Restore(key, int64(binary.BigEndian.Uint64(v[keyLen:])), now.Unix())
		}
		return nil
	})
	if err != nil {
		return err
	}
	var ended []policy.SessionKey
	err = tb.Bucket(bucketEnded).ForEach(func(k, v []byte) error {
		s.noteSeq(k)
		for ; len(v) >= keyLen; v = v[keyLen:] {
			var key policy.SessionKey
			copy(key[:], v)
			ended = append(ended, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.table.Forget(ended)
	return nil
}

func (s *Store) noteSeq(k []byte) {
	if len(k) == 16 {
		if q := binary.BigEndian.Uint64(k[8:]); q > s.seq {
			s.seq = q
		}
	}
}

// dropExpired deletes batches whose every session (or renewal mark) has
// expired.
func dropExpired(tb *bbolt.Bucket, now time.Time) error {
	for _, name := range [][]byte{bucketSessions, bucketEnded, bucketRenewed} {
		c := tb.Bucket(name).Cursor()
		for k, _ := c.First(); k != nil && len(k) == 16 && int64(binary.BigEndian.Uint64(k)) <= now.Unix(); k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close writes pending session changes and stops the writer.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
	})
	return s.closeErr
}

func (s *Store) flushLoop() {
	defer close(s.done)
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			_ = s.Flush()
		case <-s.stop:
			s.closeErr = s.Flush()
			return
		}
	}
}

// Flush writes pending session changes now and drops expired batches.
func (s *Store) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	admitted, ended, maxExp := s.admitted, s.ended, s.maxExp
	renewed, maxUntil := s.renewed, s.maxUntil
	s.admitted, s.ended, s.maxExp, s.renewed, s.maxUntil = nil, nil, 0, nil, 0
	s.mu.Unlock()
	now := s.now()
	peak := s.table.Usage(now).Peak
	if len(admitted) == 0 && len(ended) == 0 && len(renewed) == 0 && peak == s.peak && now.Sub(s.lastSweep) < time.Second {
		return nil
	}
	seq := s.seq
	err := s.update(func(tb *bbolt.Bucket) error {
		put := func(bucket, v []byte, last int64) error {
			if len(v) == 0 {
				return nil
			}
			seq++
			var k [16]byte
			binary.BigEndian.PutUint64(k[:8], uint64(last))
			binary.BigEndian.PutUint64(k[8:], seq)
			return tb.Bucket(bucket).Put(k[:], v)
		}
		if err := put(bucketSessions, admitted, maxExp); err != nil {
			return err
		}
		if err := put(bucketEnded, ended, maxExp); err != nil {
			return err
		}
		if err := put(bucketRenewed, renewed, maxUntil); err != nil {
			return err
		}
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(peak))
		if err := tb.Bucket(bucketMeta).Put(keyPeak, buf[:]); err != nil {
			return err
		}
		return dropExpired(tb, now)
	})
	if err != nil {
		// Keep the batches for the next try.
		s.mu.Lock()
		s.admitted = append(admitted, s.admitted...)
		s.ended = append(ended, s.ended...)
		s.maxExp = max(s.maxExp, maxExp)
		s.renewed = append(renewed, s.renewed...)
		s.maxUntil = max(s.maxUntil, maxUntil)
		s.mu.Unlock()
		return err
	}
	s.seq, s.peak, s.lastSweep = seq, peak, now
	return nil
}

// AdmitSession implements policy.Store. The file is held by this process
// alone, so admission is decided in memory by the session table (a
// compare-and-swap on the live count under the client's lock, sessions in
// locked shards), exactly, and written behind.
func (s *Store) AdmitSession(ctx context.Context, a policy.Admission, now time.Time) (policy.Verdict, error) {
	v, _ := s.table.Admit(a, now)
	if v.Outcome == policy.Admitted {
		s.mu.Lock()
		s.admitted = appendSession(s.admitted, a)
		s.maxExp = max(s.maxExp, a.Session.ExpiresAt)
		if r := a.Renews; r != nil {
			s.renewed = append(s.renewed, r.Key[:]...)
			s.renewed = binary.BigEndian.AppendUint64(s.renewed, uint64(r.Until))
			s.maxUntil = max(s.maxUntil, r.Until)
		}
		s.mu.Unlock()
	}
	return v, nil
}

// EndSessions implements policy.Store.
func (s *Store) EndSessions(ctx context.Context, app string) error {
	ended := s.table.EndApp(app)
	if len(ended) == 0 {
		return nil
	}
	s.mu.Lock()
	for _, r := range ended {
		s.ended = append(s.ended, r.Key[:]...)
		s.maxExp = max(s.maxExp, r.ExpiresAt)
	}
	s.mu.Unlock()
	return s.Flush()
}

// Usage implements policy.Store.
func (s *Store) Usage(ctx context.Context, now time.Time) (policy.Usage, error) {
	return s.table.Usage(now), nil
}
