// Package bolt is the embedded store: one bbolt file holding every tenant's
// spaces, apps, signing key and live sessions. State changes are fsync'd
// before they return; live sessions are written behind in small batches.
package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

var (
	bucketTenants  = []byte("tenants")
	bucketApps     = []byte("apps")
	bucketSpaces   = []byte("spaces")
	bucketMeta     = []byte("meta")
	bucketSessions = []byte("sessions")
	keySigningKey  = []byte("signing_key")
	keyPeak        = []byte("peak")
)

// DB is an open state file. Open it once per process: bbolt holds an
// exclusive file lock, so a second Open of the same path would wait.
type DB struct {
	db *bbolt.DB
}

// Open opens or creates the state file at path, waiting at most timeout
// for another process to let go of it.
func Open(path string, timeout time.Duration) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("state file %s is locked by another process", path)
		}
		return nil, fmt.Errorf("opening state file %s: %w", path, err)
	}
	return &DB{db: db}, nil
}

// Close closes the file. Close every tenant Store first.
func (d *DB) Close() error { return d.db.Close() }

// Store is one tenant's state in the file. It implements policy.Store.
type Store struct {
	db     *bbolt.DB
	tenant []byte
	now    func() time.Time
	table  *policy.SessionTable

	mu       sync.Mutex
	flushMu  sync.Mutex // one Flush at a time; guards peak
	pending  []sessionOp
	peak     int
	stop     chan struct{}
	done     chan struct{}
	closeErr error
	once     sync.Once
}

type sessionOp struct {
	rec    policy.SessionRecord
	delete bool
}

// FlushInterval is how often admitted and ended sessions are written to the
// file. A crash loses at most this much session bookkeeping; spaces, apps,
// codes and on/off state are written synchronously.
const FlushInterval = 100 * time.Millisecond

// Tenant opens one tenant's state, loading its live sessions so that they
// keep counting against capacity after a restart. now is the clock.
func (d *DB) Tenant(name string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{db: d.db, tenant: []byte(name), now: now, table: policy.NewSessionTable(),
		stop: make(chan struct{}), done: make(chan struct{})}
	err := d.db.Update(func(tx *bbolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketTenants)
		if err != nil {
			return err
		}
		tb, err := root.CreateBucketIfNotExists(s.tenant)
		if err != nil {
			return err
		}
		for _, b := range [][]byte{bucketApps, bucketSpaces, bucketMeta, bucketSessions} {
			if _, err := tb.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if v := tb.Bucket(bucketMeta).Get(keyPeak); len(v) == 8 {
			s.peak = int(binary.BigEndian.Uint64(v))
			s.table.SetPeak(s.peak)
		}
		t := now()
		sb := tb.Bucket(bucketSessions)
		var expired [][]byte
		err = sb.ForEach(func(k, v []byte) error {
			rec, ok := decodeSession(k, v)
			if !ok || rec.ExpiresAt <= t.Unix() {
				expired = append(expired, append([]byte(nil), k...))
				return nil
			}
			s.table.Restore(rec, t)
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := sb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opening tenant %s: %w", name, err)
	}
	go s.flushLoop()
	return s, nil
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
			s.sweep()
			_ = s.Flush()
		case <-s.stop:
			s.closeErr = s.Flush()
			return
		}
	}
}

func (s *Store) sweep() {
	gone := s.table.Expire(s.now())
	if len(gone) == 0 {
		return
	}
	s.mu.Lock()
	for _, k := range gone {
		s.pending = append(s.pending, sessionOp{rec: policy.SessionRecord{Key: k}, delete: true})
	}
	s.mu.Unlock()
}

// Flush writes pending session changes now.
func (s *Store) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	ops := s.pending
	s.pending = nil
	s.mu.Unlock()
	peak := s.table.Usage(s.now()).Peak
	if len(ops) == 0 && peak == s.peak {
		return nil
	}
	err := s.update(func(tb *bbolt.Bucket) error {
		sb := tb.Bucket(bucketSessions)
		for _, op := range ops {
			var err error
			if op.delete {
				err = sb.Delete(op.rec.Key[:])
			} else {
				err = sb.Put(op.rec.Key[:], encodeSession(op.rec))
			}
			if err != nil {
				return err
			}
		}
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(peak))
		return tb.Bucket(bucketMeta).Put(keyPeak, buf[:])
	})
	if err != nil {
		// Keep the operations for the next try.
		s.mu.Lock()
		s.pending = append(ops, s.pending...)
		s.mu.Unlock()
		return err
	}
	s.peak = peak
	return nil
}

func encodeSession(r policy.SessionRecord) []byte {
	b := make([]byte, 8+len(r.App))
	binary.BigEndian.PutUint64(b, uint64(r.ExpiresAt))
	copy(b[8:], r.App)
	return b
}

func decodeSession(k, v []byte) (policy.SessionRecord, bool) {
	var rec policy.SessionRecord
	if len(k) != len(rec.Key) || len(v) < 9 {
		return rec, false
	}
	copy(rec.Key[:], k)
	rec.ExpiresAt = int64(binary.BigEndian.Uint64(v))
	rec.App = string(v[8:])
	return rec, true
}

func (s *Store) update(fn func(tb *bbolt.Bucket) error) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return fn(tx.Bucket(bucketTenants).Bucket(s.tenant))
	})
}

func (s *Store) view(fn func(tb *bbolt.Bucket) error) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		return fn(tx.Bucket(bucketTenants).Bucket(s.tenant))
	})
}

// Spaces implements policy.Store.
func (s *Store) Spaces(ctx context.Context) ([]policy.Space, error) {
	var out []policy.Space
	err := s.view(func(tb *bbolt.Bucket) error {
		return tb.Bucket(bucketSpaces).ForEach(func(_, v []byte) error {
			var sp policy.Space
			if err := json.Unmarshal(v, &sp); err != nil {
				return err
			}
			out = append(out, sp)
			return nil
		})
	})
	return out, err
}

// PutSpace implements policy.Store.
func (s *Store) PutSpace(ctx context.Context, sp policy.Space) error {
	b, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	return s.update(func(tb *bbolt.Bucket) error {
		return tb.Bucket(bucketSpaces).Put([]byte(sp.ID), b)
	})
}

// Apps implements policy.Store.
func (s *Store) Apps(ctx context.Context) ([]policy.AppRecord, error) {
	var out []policy.AppRecord
	err := s.view(func(tb *bbolt.Bucket) error {
		return tb.Bucket(bucketApps).ForEach(func(_, v []byte) error {
			var r policy.AppRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// EnsureApp implements policy.Store.
func (s *Store) EnsureApp(ctx context.Context, rec policy.AppRecord) (policy.AppRecord, error) {
	err := s.update(func(tb *bbolt.Bucket) error {
		ab := tb.Bucket(bucketApps)
		if v := ab.Get([]byte(rec.ID)); v != nil {
			var old policy.AppRecord
			if err := json.Unmarshal(v, &old); err != nil {
				return err
			}
			rec.Code, rec.Version, rec.AnonymousAccess = old.Code, old.Version, old.AnonymousAccess
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return ab.Put([]byte(rec.ID), b)
	})
	return rec, err
}

// UpdateApp implements policy.Store.
func (s *Store) UpdateApp(ctx context.Context, id string, fn func(*policy.AppRecord) error) (policy.AppRecord, error) {
	var rec policy.AppRecord
	err := s.update(func(tb *bbolt.Bucket) error {
		ab := tb.Bucket(bucketApps)
		v := ab.Get([]byte(id))
		if v == nil {
			return policy.ErrUnknownApp
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return ab.Put([]byte(id), b)
	})
	return rec, err
}

// SigningKey implements policy.Store.
func (s *Store) SigningKey(ctx context.Context, candidate []byte) ([]byte, error) {
	var key []byte
	err := s.update(func(tb *bbolt.Bucket) error {
		mb := tb.Bucket(bucketMeta)
		if v := mb.Get(keySigningKey); v != nil {
			key = append([]byte(nil), v...)
			return nil
		}
		key = candidate
		return mb.Put(keySigningKey, candidate)
	})
	return key, err
}

// AdmitSession implements policy.Store. Admission is decided in memory under
// one lock (the file is held by this process alone) and written behind.
func (s *Store) AdmitSession(ctx context.Context, rec policy.SessionRecord, capacity int, now time.Time) (bool, error) {
	ok, _ := s.table.Admit(rec, capacity, now)
	if ok {
		s.mu.Lock()
		s.pending = append(s.pending, sessionOp{rec: rec})
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
	for _, k := range ended {
		s.pending = append(s.pending, sessionOp{rec: policy.SessionRecord{Key: k}, delete: true})
	}
	s.mu.Unlock()
	return s.Flush()
}

// Usage implements policy.Store.
func (s *Store) Usage(ctx context.Context, now time.Time) (policy.Usage, error) {
	return s.table.Usage(now), nil
}

var _ policy.Store = (*Store)(nil)
