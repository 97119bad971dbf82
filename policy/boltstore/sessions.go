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
// code reset) are recorded the same way in the "ended" bucket.
//
//	sessions: maxExp(8) seq(8) -> { key(16) exp(8) len(1) app }...
//	ended:    maxExp(8) seq(8) -> { key(16) }...

const keyLen = len(policy.SessionKey{})

func appendSession(b []byte, r policy.SessionRecord) []byte {
	b = append(b, r.Key[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.ExpiresAt))
	b = append(b, byte(len(r.App)))
	return append(b, r.App...)
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
		for len(v) >= keyLen+9 {
			var r policy.SessionRecord
			copy(r.Key[:], v)
			r.ExpiresAt = int64(binary.BigEndian.Uint64(v[keyLen:]))
			n := int(v[keyLen+8])
			v = v[keyLen+9:]
			if len(v) < n {
				return errors.New("corrupt session batch")
			}
			r.App = string(v[:n])
			v = v[n:]
			s.table.Restore(r, now)
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

// dropExpired deletes batches whose every session has expired.
func dropExpired(tb *bbolt.Bucket, now time.Time) error {
	for _, name := range [][]byte{bucketSessions, bucketEnded} {
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
	s.admitted, s.ended, s.maxExp = nil, nil, 0
	s.mu.Unlock()
	now := s.now()
	peak := s.table.Usage(now).Peak
	if len(admitted) == 0 && len(ended) == 0 && peak == s.peak && now.Sub(s.lastSweep) < time.Second {
		return nil
	}
	seq := s.seq
	err := s.update(func(tb *bbolt.Bucket) error {
		put := func(bucket, v []byte) error {
			if len(v) == 0 {
				return nil
			}
			seq++
			var k [16]byte
			binary.BigEndian.PutUint64(k[:8], uint64(maxExp))
			binary.BigEndian.PutUint64(k[8:], seq)
			return tb.Bucket(bucket).Put(k[:], v)
		}
		if err := put(bucketSessions, admitted); err != nil {
			return err
		}
		if err := put(bucketEnded, ended); err != nil {
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
		s.mu.Unlock()
		return err
	}
	s.seq, s.peak, s.lastSweep = seq, peak, now
	return nil
}

// AdmitSession implements policy.Store. The file is held by this process
// alone, so admission is decided in memory by the session table (a
// compare-and-swap on the live count, sessions in locked shards), exactly,
// and written behind.
func (s *Store) AdmitSession(ctx context.Context, rec policy.SessionRecord, capacity int, now time.Time) (bool, error) {
	ok, _ := s.table.Admit(rec, capacity, now)
	if ok {
		s.mu.Lock()
		s.admitted = appendSession(s.admitted, rec)
		s.maxExp = max(s.maxExp, rec.ExpiresAt)
		s.mu.Unlock()
	}
	return ok, nil
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
