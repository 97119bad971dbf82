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
	// sessions are the live sessions: the plainest exact admission, one
	// mutex over a map, as a reference for the real stores.
	sessions map[policy.SessionKey]policy.SessionRecord
	// clients holds the client of each live session counted for one.
	clients map[policy.SessionKey]policy.ClientID
	// renewed holds the renewed sessions, each until its renew-until.
	renewed map[policy.SessionKey]int64
	peak    int
	model   policy.AccessModel
	audit   []policy.AuditEntry // oldest first
	seq     uint64              // the last audit ID handed out
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
		mt = &memTenant{spaces: map[string]policy.Space{}, apps: map[string]policy.AppRecord{}}
		mt.forgetSessions()
		b.tenants[tenant] = mt
	}
	return &memStore{memTenant: mt, broken: b.broken}
}

func (b *memBacking) restart() {
	if b.broken != "forget-sessions-on-restart" {
		return
	}
	for _, mt := range b.tenants {
		mt.forgetSessions()
	}
}

// forgetSessions empties the session bookkeeping.
func (mt *memTenant) forgetSessions() {
	mt.sessions, mt.peak = map[policy.SessionKey]policy.SessionRecord{}, 0
	mt.clients, mt.renewed = map[policy.SessionKey]policy.ClientID{}, map[policy.SessionKey]int64{}
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
		rec = policy.Reprovisioned(old, rec)
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

func (s *memStore) AdmitSession(_ context.Context, a policy.Admission, now time.Time) (policy.Verdict, error) {
	rec, capacity := a.Session, a.Capacity
	switch s.broken {
	case "admit-racy":
		s.mu.Lock()
		s.sweep(now)
		full := len(s.sessions) >= capacity
		s.mu.Unlock()
		if full {
			return policy.Verdict{Outcome: policy.CapacityFull}, nil
		}
		runtime.Gosched()
		capacity += 1000
	case "client-racy":
		s.mu.Lock()
		s.sweep(now)
		_, held := s.clientSessions(a.Client)
		s.mu.Unlock()
		if a.ClientLimit > 0 && held >= a.ClientLimit {
			return policy.Verdict{Outcome: policy.ClientFull}, nil
		}
		runtime.Gosched()
		a.ClientLimit = 0
	case "expiry-late":
		now = now.Add(-time.Second)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if _, live := s.sessions[rec.Key]; live {
		return policy.Verdict{Outcome: policy.Admitted}, nil
	}
	if r := a.Renews; r != nil && s.renewed[r.Key] > now.Unix() && s.broken != "renew-twice" {
		return policy.Verdict{Outcome: policy.AlreadyRenewed}, nil
	}
	if a.ClientLimit > 0 {
		if first, held := s.clientSessions(a.Client); held >= a.ClientLimit {
			return policy.Verdict{Outcome: policy.ClientFull, ClientFreeAt: first}, nil
		}
	}
	if len(s.sessions) >= capacity {
		return policy.Verdict{Outcome: policy.CapacityFull}, nil
	}
	s.sessions[rec.Key] = rec
	if a.ClientLimit > 0 {
		s.clients[rec.Key] = a.Client
	}
	if a.Renews != nil {
		s.renewed[a.Renews.Key] = a.Renews.Until
	}
	s.peak = max(s.peak, len(s.sessions))
	return policy.Verdict{Outcome: policy.Admitted}, nil
}

// clientSessions returns how many live sessions a client holds and when
// the first of them ends; s.mu is held and the sessions swept.
func (s *memStore) clientSessions(id policy.ClientID) (first int64, held int) {
	for k, c := range s.clients {
		if c != id {
			continue
		}
		if _, live := s.sessions[k]; !live && s.broken != "client-keeps-ended" {
			continue
		}
		exp := s.sessions[k].ExpiresAt
		if held == 0 || exp < first {
			first = exp
		}
		held++
	}
	return first, held
}

// sweep drops the sessions expired at now; s.mu is held.
func (s *memStore) sweep(now time.Time) {
	for k, r := range s.sessions {
		if r.ExpiresAt <= now.Unix() {
			delete(s.sessions, k)
			delete(s.clients, k)
		}
	}
	for k, until := range s.renewed {
		if until <= now.Unix() {
			delete(s.renewed, k)
		}
	}
}

func (s *memStore) EndSessions(_ context.Context, app string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range s.sessions {
		if r.App == app || s.broken == "end-every-app" {
			delete(s.sessions, k)
			if s.broken != "client-keeps-ended" {
				delete(s.clients, k)
			}
		}
	}
	return nil
}

func (s *memStore) Usage(_ context.Context, now time.Time) (policy.Usage, error) {
	if s.broken == "expiry-late" {
		now = now.Add(-time.Second)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	u := policy.Usage{Active: len(s.sessions), Peak: s.peak, PerApp: map[string]int{}}
	for _, r := range s.sessions {
		u.PerApp[r.App]++
	}
	return u, nil
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
