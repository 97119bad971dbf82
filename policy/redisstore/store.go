// Package redisstore is the shared store: one tenant's spaces, apps, signing key,
// live sessions, access model and audit log in Redis or Valkey
// (standalone, Sentinel or Cluster), so that several gateway instances
// share apps, codes and capacity, and a change made on one reaches the
// others over pub/sub.
//
// Every key of a tenant starts with the Cluster hash tag {prefix:tenant},
// so a tenant lives in one slot and the multi-key scripts that admit and
// end sessions work in Cluster mode. The keys, for tenant acme:
//
//	{anonaccess:acme}:spaces         hash  space id -> JSON policy.Space
//	{anonaccess:acme}:apps           hash  app id -> JSON policy.AppRecord
//	{anonaccess:acme}:signing_key    string
//	{anonaccess:acme}:sessions       zset  session key + app, scored by expiry
//	{anonaccess:acme}:sessions:app:X zset  session key of app X, scored by expiry
//	{anonaccess:acme}:session_apps   set   apps that have live sessions
//	{anonaccess:acme}:client:C       zset  session key + app of client C (a keyed hash, hex), scored by expiry
//	{anonaccess:acme}:renewed:S      string, the renew-until of session S (hex), renewed once already
//	{anonaccess:acme}:peak           string, the highest live count seen
//	{anonaccess:acme}:access_model   string, JSON policy.AccessModel
//	{anonaccess:acme}:audit          zset  "id:JSON policy.AuditEntry", scored by id
//	{anonaccess:acme}:audit_seq      string, the last audit entry id handed out
//	{anonaccess:acme}:changes        pub/sub channel of change notices
//
// Durability is the server's: run it with appendonly yes and appendfsync
// always for "once a call returns, a crash cannot bring back an old code".
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// DefaultPrefix starts every key when no prefix is given.
const DefaultPrefix = "anonaccess"

// opTimeout bounds every Store call, retries included, so that a caller
// learns quickly that the store is unavailable and fails closed.
const opTimeout = 2 * time.Second

// Store is one tenant's state in Redis. It implements policy.Store and
// policy.Watcher. It does not own its client: several tenants, and the
// overlapping old and new configs of a reload, may share one.
type Store struct {
	client redis.UniversalClient
	keys   keys
	now    func() time.Time // for Healthy only; session calls get now passed

	mu        sync.Mutex // guards the feed's health
	connected bool
	downSince time.Time

	admissions admissionQueue
}

// keys are the names of a tenant's keys.
type keys struct {
	spaces, apps, signingKey      string
	sessions, sessionApps, peak   string
	appSessionsPrefix, changesKey string
	clientSessionsPrefix          string
	renewedPrefix                 string
	accessModel, audit, auditSeq  string
}

func newKeys(prefix, tenant string) keys {
	base := "{" + prefix + ":" + tenant + "}:"
	return keys{
		spaces: base + "spaces", apps: base + "apps", signingKey: base + "signing_key",
		sessions: base + "sessions", sessionApps: base + "session_apps", peak: base + "peak",
		appSessionsPrefix: base + "sessions:app:", changesKey: base + "changes",
		clientSessionsPrefix: base + "client:", renewedPrefix: base + "renewed:",
		accessModel: base + "access_model", audit: base + "audit", auditSeq: base + "audit_seq",
	}
}

// appSessions is the key of one app's live sessions.
func (k keys) appSessions(app string) string { return k.appSessionsPrefix + app }

// New returns tenant's store on client, its keys under prefix
// (DefaultPrefix when empty).
func New(client redis.UniversalClient, prefix, tenant string) (*Store, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	// Braces would move the hash tag; the rest is free-form.
	if strings.ContainsAny(prefix, "{}") || len(prefix) > 100 {
		return nil, errors.New("redis: the key prefix must be at most 100 characters, without braces")
	}
	if err := policy.ValidateID("tenant", tenant); err != nil {
		return nil, err
	}
	return &Store{client: client, keys: newKeys(prefix, tenant), now: time.Now, downSince: time.Now()}, nil
}

// unavailable wraps an error of the client: the server is down, slow,
// failing over or refusing, and callers fail closed.
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", policy.ErrStoreUnavailable, err)
}

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, opTimeout)
}

// Spaces implements policy.Store.
func (s *Store) Spaces(ctx context.Context) ([]policy.Space, error) {
	out, err := readHash[policy.Space](ctx, s, s.keys.spaces)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// PutSpace implements policy.Store.
func (s *Store) PutSpace(ctx context.Context, sp policy.Space) error {
	b, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if err := s.client.HSet(ctx, s.keys.spaces, sp.ID, b).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Apps implements policy.Store.
func (s *Store) Apps(ctx context.Context) ([]policy.AppRecord, error) {
	out, err := readHash[policy.AppRecord](ctx, s, s.keys.apps)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// readHash decodes every JSON value of one of the tenant's hashes.
func readHash[T any](ctx context.Context, s *Store, key string) ([]T, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	vals, err := s.client.HVals(ctx, key).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]T, 0, len(vals))
	for _, v := range vals {
		var item T
		if err := json.Unmarshal([]byte(v), &item); err != nil {
			return nil, fmt.Errorf("redis: corrupt value in %s: %w", key, err)
		}
		out = append(out, item)
	}
	return out, nil
}

// casApp replaces an app's stored JSON only if it is still what was read.
// It returns 1 when written, 0 when the app changed meanwhile and -1 when
// it is gone.
var casApp = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
if cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`)

// EnsureApp implements policy.Store.
func (s *Store) EnsureApp(ctx context.Context, rec policy.AppRecord) (policy.AppRecord, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if err := backoff(ctx, attempt); err != nil {
			return policy.AppRecord{}, unavailable(err)
		}
		cur, err := s.client.HGet(ctx, s.keys.apps, rec.ID).Result()
		if errors.Is(err, redis.Nil) {
			b, err := json.Marshal(rec)
			if err != nil {
				return policy.AppRecord{}, err
			}
			created, err := s.client.HSetNX(ctx, s.keys.apps, rec.ID, b).Result()
			if err != nil {
				return policy.AppRecord{}, unavailable(err)
			}
			if created {
				return rec, nil
			}
			continue // another instance created it meanwhile: merge with theirs
		}
		if err != nil {
			return policy.AppRecord{}, unavailable(err)
		}
		var old policy.AppRecord
		if err := json.Unmarshal([]byte(cur), &old); err != nil {
			return policy.AppRecord{}, fmt.Errorf("redis: corrupt app %s: %w", rec.ID, err)
		}
		next := policy.Reprovisioned(old, rec)
		done, err := s.swapApp(ctx, rec.ID, cur, next)
		if errors.Is(err, policy.ErrUnknownApp) {
			continue // gone meanwhile: create it afresh
		}
		if err != nil {
			return policy.AppRecord{}, err
		}
		if done {
			return next, nil
		}
	}
}

// UpdateApp implements policy.Store. It is an optimistic transaction: fn
// runs on the stored app and the result is written only if the app has
// not changed meanwhile, else it runs again on the newer app. fn must
// therefore only change the record it is given.
func (s *Store) UpdateApp(ctx context.Context, id string, fn func(*policy.AppRecord) error) (policy.AppRecord, error) {
	return s.appTransaction(ctx, id, func(ctx context.Context, cur string, rec policy.AppRecord) (policy.AppRecord, bool, error) {
		if err := fn(&rec); err != nil {
			return policy.AppRecord{}, false, err
		}
		done, err := s.swapApp(ctx, id, cur, rec)
		return rec, done, err
	})
}

// appTransaction runs step on the stored app (its JSON and its record)
// until step reports it wrote on what it read, backing off after lost
// races, within the store's time bound.
func (s *Store) appTransaction(ctx context.Context, id string, step func(ctx context.Context, cur string, rec policy.AppRecord) (policy.AppRecord, bool, error)) (policy.AppRecord, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if err := backoff(ctx, attempt); err != nil {
			return policy.AppRecord{}, unavailable(err)
		}
		cur, rec, err := s.readApp(ctx, id)
		if err != nil {
			return policy.AppRecord{}, err
		}
		out, done, err := step(ctx, cur, rec)
		if err != nil {
			return policy.AppRecord{}, err
		}
		if done {
			return out, nil
		}
	}
}

// readApp returns an app's stored JSON and the record it holds.
func (s *Store) readApp(ctx context.Context, id string) (string, policy.AppRecord, error) {
	var rec policy.AppRecord
	cur, err := s.client.HGet(ctx, s.keys.apps, id).Result()
	if errors.Is(err, redis.Nil) {
		return "", rec, policy.ErrUnknownApp
	}
	if err != nil {
		return "", rec, unavailable(err)
	}
	if err := json.Unmarshal([]byte(cur), &rec); err != nil {
		return "", rec, fmt.Errorf("redis: corrupt app %s: %w", id, err)
	}
	return cur, rec, nil
}

// swapApp writes next over the app's stored JSON old. It reports false
// when the app changed meanwhile, and ErrUnknownApp when it is gone.
func (s *Store) swapApp(ctx context.Context, id, old string, next policy.AppRecord) (bool, error) {
	b, err := json.Marshal(next)
	if err != nil {
		return false, err
	}
	if string(b) == old {
		return true, nil // nothing to write; what was read is current enough
	}
	n, err := casApp.Run(ctx, s.client, []string{s.keys.apps}, id, old, b).Int()
	switch {
	case err != nil:
		return false, unavailable(err)
	case n < 0:
		return false, policy.ErrUnknownApp
	}
	return n == 1, nil
}

// backoff waits before another attempt of an optimistic transaction, a
// little longer after each lost race, so that many writers of one app do
// not keep colliding. The first attempts go at once.
func backoff(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return ctx.Err()
	}
	d := time.Duration(min(attempt, 20)) * 200 * time.Microsecond
	t := time.NewTimer(d/2 + rand.N(d))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// getOrSetKey returns the stored signing key, storing ARGV[1] first when
// there is none.
var getOrSetKey = redis.NewScript(`
local k = redis.call('GET', KEYS[1])
if k then return k end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// SigningKey implements policy.Store.
func (s *Store) SigningKey(ctx context.Context, candidate []byte) ([]byte, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	key, err := getOrSetKey.Run(ctx, s.client, []string{s.keys.signingKey}, candidate).Text()
	if err != nil {
		return nil, unavailable(err)
	}
	return []byte(key), nil
}

var (
	_ policy.Store   = (*Store)(nil)
	_ policy.Watcher = (*Store)(nil)
)
