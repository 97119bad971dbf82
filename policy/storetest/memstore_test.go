package storetest

import (
	"context"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// memTenant is the state of one tenant of memBacking.
type memTenant struct {
	mu     sync.Mutex
	spaces map[string]policy.Space
	apps   map[string]policy.AppRecord
	key    []byte
	table  *policy.SessionTable
	model  policy.AccessModel
	audit  []policy.AuditEntry // oldest first
	seq    uint64              // the last audit ID handed out
}

// memBacking is a reference store in memory, used to test the suite
// itself. broken names one deliberate defect, which the suite must catch.
type memBacking struct {
	mu      sync.Mutex
	tenants map[string]*memTenant
	broken  string
}

// memStore is one tenant's policy.Store on a memBacking.
type memStore struct {
	*memTenant
	broken string
}

func (b *memBacking) open(tenant string, _ func() time.Time) policy.Store {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.broken == "shared-tenants" {
		tenant = "all"
	}
	mt := b.tenants[tenant]
	if mt == nil {
		mt = &memTenant{spaces: map[string]policy.Space{}, apps: map[string]policy.AppRecord{}, table: policy.NewSessionTable()}
		b.tenants[tenant] = mt
	}
	return &memStore{memTenant: mt, broken: b.broken}
}

func (b *memBacking) restart() {
	if b.broken != "forget-sessions-on-restart" {
		return
	}
	for _, mt := range b.tenants {
		mt.table = policy.NewSessionTable()
	}
}

func (s *memStore) Spaces(context.Context) ([]policy.Space, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []policy.Space
	for _, sp := range s.spaces {
		out = append(out, sp)
	}
	return out, nil
}

func (s *memStore) PutSpace(_ context.Context, sp policy.Space) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spaces[sp.ID] = sp
	return nil
}

func (s *memStore) Apps(context.Context) ([]policy.AppRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []policy.AppRecord
	for _, a := range s.apps {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *memStore) EnsureApp(_ context.Context, rec policy.AppRecord) (policy.AppRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.apps[rec.ID]; ok && s.broken != "ensure-overwrites" {
		rec.Code, rec.Version, rec.AnonymousAccess = old.Code, old.Version, old.AnonymousAccess
	}
	s.apps[rec.ID] = rec
	return rec, nil
}

func (s *memStore) UpdateApp(_ context.Context, id string, fn func(*policy.AppRecord) error) (policy.AppRecord, error) {
	s.mu.Lock()
	rec, ok := s.apps[id]
	if s.broken == "update-racy" {
		s.mu.Unlock()
		runtime.Gosched()
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	if !ok {
		return policy.AppRecord{}, policy.ErrUnknownApp
	}
	if err := fn(&rec); err != nil {
		if s.broken == "update-keeps-failed" {
			s.apps[id] = rec
		}
		return policy.AppRecord{}, err
	}
	s.apps[id] = rec
	return rec, nil
}

func (s *memStore) SigningKey(_ context.Context, candidate []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil || s.broken == "signing-key-replaced" {
		s.key = candidate
	}
	return s.key, nil
}

func (s *memStore) AdmitSession(_ context.Context, rec policy.SessionRecord, capacity int, now time.Time) (bool, error) {
	switch s.broken {
	case "admit-racy":
		if s.table.Usage(now).Active >= capacity {
			return false, nil
		}
		runtime.Gosched()
		ok, _ := s.table.Admit(rec, capacity+1000, now)
		return ok, nil
	case "expiry-late":
		now = now.Add(-time.Second)
	}
	ok, _ := s.table.Admit(rec, capacity, now)
	return ok, nil
}

func (s *memStore) EndSessions(_ context.Context, app string) error {
	if s.broken == "end-every-app" {
		u := s.table.Usage(time.Unix(0, 0))
		for a := range u.PerApp {
			s.table.EndApp(a)
		}
		return nil
	}
	s.table.EndApp(app)
	return nil
}

func (s *memStore) Usage(_ context.Context, now time.Time) (policy.Usage, error) {
	if s.broken == "expiry-late" {
		now = now.Add(-time.Second)
	}
	return s.table.Usage(now), nil
}

func (s *memStore) CreateSpace(_ context.Context, sp policy.Space) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.spaces[sp.ID]; ok {
		return policy.ErrSpaceExists
	}
	s.spaces[sp.ID] = sp
	return nil
}

func (s *memStore) CreateApp(_ context.Context, rec policy.AppRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[rec.ID]; ok {
		return policy.ErrAppExists
	}
	s.apps[rec.ID] = rec
	return nil
}

func (s *memStore) DeleteApp(_ context.Context, id string, check func(policy.AppRecord) error) (policy.AppRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.apps[id]
	if !ok {
		return policy.AppRecord{}, policy.ErrUnknownApp
	}
	if err := check(rec); err != nil {
		return policy.AppRecord{}, err
	}
	delete(s.apps, id)
	return rec, nil
}

// AccessModel and UpdateAccessModel hand out and keep clones, as a store
// that serialises the model would: nothing a caller holds aliases it.
func (s *memStore) AccessModel(context.Context) (policy.AccessModel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.model.Clone(), nil
}

func (s *memStore) UpdateAccessModel(_ context.Context, fn func(*policy.AccessModel) error) (policy.AccessModel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.model.Clone()
	if err := fn(&m); err != nil {
		return policy.AccessModel{}, err
	}
	s.model = m.Clone()
	return m, nil
}

func (s *memStore) AppendAudit(_ context.Context, e policy.AuditEntry) (policy.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	e.ID = s.seq
	s.audit = append(s.audit, e)
	if n := len(s.audit); n > policy.AuditRetention {
		s.audit = slices.Delete(s.audit, 0, n-policy.AuditRetention)
	}
	return e, nil
}

func (s *memStore) AuditLog(_ context.Context, before uint64, limit int) ([]policy.AuditEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []policy.AuditEntry{}
	for i := len(s.audit) - 1; i >= 0 && len(out) < limit; i-- {
		if before == 0 || s.audit[i].ID < before {
			out = append(out, s.audit[i])
		}
	}
	return out, nil
}

var _ policy.Store = (*memStore)(nil)
