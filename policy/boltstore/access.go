package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// The management API's state lives beside the apps:
//
//	meta:  access_model -> JSON policy.AccessModel
//	audit: id(8) -> JSON policy.AuditEntry
//
// Audit IDs come from the audit bucket's own sequence, which bbolt keeps
// in the bucket header and commits with the entry, so an ID is never
// handed out twice, not even across a restart. Keys are big-endian, so
// the bucket's byte order is the IDs' order and a page is one cursor walk.

// CreateSpace implements policy.Store.
func (s *Store) CreateSpace(ctx context.Context, sp policy.Space) error {
	return s.update(func(tb *bbolt.Bucket) error {
		sb := tb.Bucket(bucketSpaces)
		if sb.Get([]byte(sp.ID)) != nil {
			return policy.ErrSpaceExists
		}
		return putJSON(sb, []byte(sp.ID), sp)
	})
}

// CreateApp implements policy.Store.
func (s *Store) CreateApp(ctx context.Context, rec policy.AppRecord) error {
	return s.update(func(tb *bbolt.Bucket) error {
		ab := tb.Bucket(bucketApps)
		if ab.Get([]byte(rec.ID)) != nil {
			return policy.ErrAppExists
		}
		return putJSON(ab, []byte(rec.ID), rec)
	})
}

// DeleteApp implements policy.Store. check runs inside the write
// transaction, which bbolt serialises, so the app it approves is the app
// deleted.
func (s *Store) DeleteApp(ctx context.Context, id string, check func(policy.AppRecord) error) (policy.AppRecord, error) {
	var rec policy.AppRecord
	err := s.update(func(tb *bbolt.Bucket) error {
		ab := tb.Bucket(bucketApps)
		var err error
		if rec, err = readApp(ab, id); err != nil {
			return err
		}
		if err := check(rec); err != nil {
			return err
		}
		return ab.Delete([]byte(id))
	})
	if err != nil {
		return policy.AppRecord{}, err
	}
	return rec, nil
}

// AccessModel implements policy.Store.
func (s *Store) AccessModel(ctx context.Context) (policy.AccessModel, error) {
	var m policy.AccessModel
	err := s.view(func(tb *bbolt.Bucket) error {
		var err error
		m, err = readAccessModel(tb)
		return err
	})
	return m, err
}

// UpdateAccessModel implements policy.Store. fn runs inside the write
// transaction, so it is called once; when it fails the transaction rolls
// back and nothing is written.
func (s *Store) UpdateAccessModel(ctx context.Context, fn func(*policy.AccessModel) error) (policy.AccessModel, error) {
	var m policy.AccessModel
	err := s.update(func(tb *bbolt.Bucket) error {
		var err error
		if m, err = readAccessModel(tb); err != nil {
			return err
		}
		if err := fn(&m); err != nil {
			return err
		}
		return putJSON(tb.Bucket(bucketMeta), keyAccessModel, m)
	})
	if err != nil {
		return policy.AccessModel{}, err
	}
	return m, nil
}

// readAccessModel decodes the stored model, the empty one when there is
// none. Clone gives it non-nil maps, so callers may add to them directly,
// and a copy that does not alias the transaction's memory, which bbolt
// reuses once the transaction ends.
func readAccessModel(tb *bbolt.Bucket) (policy.AccessModel, error) {
	var m policy.AccessModel
	if v := tb.Bucket(bucketMeta).Get(keyAccessModel); v != nil {
		if err := json.Unmarshal(v, &m); err != nil {
			return policy.AccessModel{}, fmt.Errorf("corrupt access model: %w", err)
		}
	}
	return m.Clone(), nil
}

// AppendAudit implements policy.Store. The oldest entries beyond
// policy.AuditRetention are dropped in the same transaction. IDs are
// dense (a rolled-back transaction rolls its sequence back too), so the
// entries to drop are exactly those with an ID at most id-AuditRetention,
// found from the cursor's start without counting the bucket.
func (s *Store) AppendAudit(ctx context.Context, e policy.AuditEntry) (policy.AuditEntry, error) {
	err := s.update(func(tb *bbolt.Bucket) error {
		ab := tb.Bucket(bucketAudit)
		id, err := ab.NextSequence()
		if err != nil {
			return err
		}
		e.ID = id
		if err := putJSON(ab, auditKey(id), e); err != nil {
			return err
		}
		if id <= policy.AuditRetention {
			return nil
		}
		oldest := id - policy.AuditRetention // the newest ID to drop
		c := ab.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= oldest; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return policy.AuditEntry{}, err
	}
	return e, nil
}

// AuditLog implements policy.Store.
func (s *Store) AuditLog(ctx context.Context, before uint64, limit int) ([]policy.AuditEntry, error) {
	// The bound keeps a huge limit from allocating before anything is read.
	out := make([]policy.AuditEntry, 0, max(0, min(limit, 1000)))
	if limit <= 0 {
		return out, nil
	}
	err := s.view(func(tb *bbolt.Bucket) error {
		c := tb.Bucket(bucketAudit).Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else if k, _ = c.Seek(auditKey(before)); k == nil {
			k, v = c.Last() // every ID is below before
		} else {
			k, v = c.Prev() // Seek stopped at or past before, which is excluded
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var e policy.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("corrupt audit entry: %w", err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func auditKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }
