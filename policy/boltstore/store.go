// Package boltstore is the embedded store: one bbolt file holding every tenant's
// spaces, apps, signing key, live sessions, access model (roles and space
// members) and audit log. State changes are fsync'd before they return;
// live sessions are written behind in small batches.
package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

var (
	bucketTenants  = []byte("tenants")
	bucketApps     = []byte("apps")
	bucketSpaces   = []byte("spaces")
	bucketMeta     = []byte("meta")
	bucketSessions = []byte("sessions")
	bucketEnded    = []byte("ended")
	bucketRenewed  = []byte("renewed")
	bucketAudit    = []byte("audit")
	keySigningKey  = []byte("signing_key")
	keyPeak        = []byte("peak")
	keyAccessModel = []byte("access_model")
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
	table  *sessionTable

	mu        sync.Mutex // guards the pending batches
	admitted  []byte     // encoded sessions admitted since the last flush
	ended     []byte     // encoded keys of sessions ended since then
	maxExp    int64      // latest expiry in admitted or ended
	renewed   []byte     // encoded sessions renewed since the last flush
	maxUntil  int64      // latest renew-until in renewed
	flushMu   sync.Mutex // one flush at a time; guards seq and peak
	seq       uint64
	peak      int
	lastSweep time.Time
	stop      chan struct{}
	done      chan struct{}
	closeErr  error
	once      sync.Once
}

// Tenant opens one tenant's state, loading its live sessions so that they
// keep counting against capacity after a restart. now is the clock.
func (d *DB) Tenant(name string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{db: d.db, tenant: []byte(name), now: now, table: newSessionTable(),
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
		for _, b := range [][]byte{bucketApps, bucketSpaces, bucketMeta, bucketSessions, bucketEnded, bucketRenewed, bucketAudit} {
			if _, err := tb.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return s.load(tb, now())
	})
	if err != nil {
		return nil, fmt.Errorf("opening tenant %s: %w", name, err)
	}
	go s.flushLoop()
	return s, nil
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
	return readAll[policy.Space](s, bucketSpaces)
}

// PutSpace implements policy.Store.
func (s *Store) PutSpace(ctx context.Context, sp policy.Space) error {
	return s.update(func(tb *bbolt.Bucket) error {
		return putJSON(tb.Bucket(bucketSpaces), []byte(sp.ID), sp)
	})
}

// Apps implements policy.Store.
func (s *Store) Apps(ctx context.Context) ([]policy.AppRecord, error) {
	return readAll[policy.AppRecord](s, bucketApps)
}

// readAll decodes every JSON value of one of the tenant's buckets.
func readAll[T any](s *Store, bucket []byte) ([]T, error) {
	var out []T
	err := s.view(func(tb *bbolt.Bucket) error {
		return tb.Bucket(bucket).ForEach(func(_, v []byte) error {
			var item T
			if err := json.Unmarshal(v, &item); err != nil {
				return err
			}
			out = append(out, item)
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
			rec = policy.Reprovisioned(old, rec)
		}
		return putJSON(ab, []byte(rec.ID), rec)
	})
	return rec, err
}

// UpdateApp implements policy.Store.
func (s *Store) UpdateApp(ctx context.Context, id string, fn func(*policy.AppRecord) error) (policy.AppRecord, error) {
	var rec policy.AppRecord
	err := s.update(func(tb *bbolt.Bucket) error {
		ab := tb.Bucket(bucketApps)
		var err error
		if rec, err = readApp(ab, id); err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
		return putJSON(ab, []byte(id), rec)
	})
	if err != nil {
		return policy.AppRecord{}, err
	}
	return rec, nil
}

// putJSON stores v as JSON under key.
func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// readApp decodes the stored app id of the apps bucket.
func readApp(ab *bbolt.Bucket, id string) (policy.AppRecord, error) {
	var rec policy.AppRecord
	v := ab.Get([]byte(id))
	if v == nil {
		return rec, policy.ErrUnknownApp
	}
	err := json.Unmarshal(v, &rec)
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

var _ policy.Store = (*Store)(nil)
