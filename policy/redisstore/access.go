package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// The management API's state: the access model is one JSON string, read
// and written whole with an optimistic compare-and-set; the audit log is
// a sorted set scored by entry ID.
//
// An audit member is the entry's decimal ID, a colon, then the entry's
// JSON without its id field: "42:{"time":...}". The ID is only known
// inside the script that appends the entry, and splicing it into JSON
// there would mean editing JSON in Lua; a prefix is plain concatenation.
// It also keeps members distinct, so two identical entries (same actor,
// action and second) are two entries and not one. Scores are doubles,
// exact for IDs below 2^53.

// errCorruptAudit reports a member not in the "id:JSON" form.
var errCorruptAudit = errors.New("redis: corrupt audit entry")

// CreateSpace implements policy.Store.
func (s *Store) CreateSpace(ctx context.Context, sp policy.Space) error {
	b, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	return s.create(ctx, s.keys.spaces, sp.ID, b, policy.ErrSpaceExists)
}

// CreateApp implements policy.Store.
func (s *Store) CreateApp(ctx context.Context, rec policy.AppRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.create(ctx, s.keys.apps, rec.ID, b, policy.ErrAppExists)
}

// create sets a hash field that must not exist yet, or returns exists.
func (s *Store) create(ctx context.Context, key, field string, value []byte, exists error) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	created, err := s.client.HSetNX(ctx, key, field, value).Result()
	switch {
	case err != nil:
		return unavailable(err)
	case !created:
		return exists
	}
	return nil
}

// casDelApp deletes an app only if its stored JSON is still what was
// read. It returns 1 when deleted, 0 when the app changed meanwhile and
// -1 when it is gone.
var casDelApp = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
if cur ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`)

// DeleteApp implements policy.Store. check runs on the app as read, and
// the app is deleted only if it has not changed since: an app turned on,
// or moved to another space, between the check and the delete is checked
// again rather than deleted on an outdated approval.
func (s *Store) DeleteApp(ctx context.Context, id string, check func(policy.AppRecord) error) (policy.AppRecord, error) {
	return s.appTransaction(ctx, id, func(ctx context.Context, cur string, rec policy.AppRecord) (policy.AppRecord, bool, error) {
		if err := check(rec); err != nil {
			return policy.AppRecord{}, false, err
		}
		n, err := casDelApp.Run(ctx, s.client, []string{s.keys.apps}, id, cur).Int()
		switch {
		case err != nil:
			return policy.AppRecord{}, false, unavailable(err)
		case n < 0:
			return policy.AppRecord{}, false, policy.ErrUnknownApp
		}
		return rec, n == 1, nil
	})
}

// AccessModel implements policy.Store.
func (s *Store) AccessModel(ctx context.Context) (policy.AccessModel, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	m, _, err := s.readAccessModel(ctx)
	return m, err
}

// readAccessModel returns the stored model, the empty one when there is
// none, and the JSON it was decoded from, "" when there was none.
// Clone gives the model non-nil maps, so callers may add to them.
func (s *Store) readAccessModel(ctx context.Context) (policy.AccessModel, string, error) {
	cur, err := s.client.Get(ctx, s.keys.accessModel).Result()
	if errors.Is(err, redis.Nil) {
		return policy.AccessModel{}.Clone(), "", nil
	}
	if err != nil {
		return policy.AccessModel{}, "", unavailable(err)
	}
	var m policy.AccessModel
	if err := json.Unmarshal([]byte(cur), &m); err != nil {
		return policy.AccessModel{}, "", fmt.Errorf("redis: corrupt access model: %w", err)
	}
	return m.Clone(), cur, nil
}

// casModel writes the access model only if it is still what was read:
// ARGV[1] is "1" when a value was read, ARGV[2] that value. Absence is
// compared too, so two first writers cannot both succeed. It returns 1
// when written and 0 when the model changed meanwhile.
var casModel = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
`)

// UpdateAccessModel implements policy.Store. Like UpdateApp it is an
// optimistic transaction: fn runs on a model decoded afresh from what was
// read, and the result is written only if the stored model has not
// changed meanwhile, else fn runs again on the newer one.
func (s *Store) UpdateAccessModel(ctx context.Context, fn func(*policy.AccessModel) error) (policy.AccessModel, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if err := backoff(ctx, attempt); err != nil {
			return policy.AccessModel{}, unavailable(err)
		}
		m, cur, err := s.readAccessModel(ctx)
		if err != nil {
			return policy.AccessModel{}, err
		}
		if err := fn(&m); err != nil {
			return policy.AccessModel{}, err
		}
		b, err := json.Marshal(m)
		if err != nil {
			return policy.AccessModel{}, err
		}
		if cur != "" && string(b) == cur {
			return m, nil // nothing to write; what was read is current enough
		}
		read := "0"
		if cur != "" {
			read = "1"
		}
		n, err := casModel.Run(ctx, s.client, []string{s.keys.accessModel}, read, cur, b).Int()
		if err != nil {
			return policy.AccessModel{}, unavailable(err)
		}
		if n == 1 {
			return m, nil
		}
	}
}

// appendAudit hands out the next ID, stores the entry under it and drops
// the oldest entries beyond the retention, in one step: IDs are distinct
// across instances and the set never holds more than the retention.
//
//	KEYS: audit, audit_seq
//	ARGV: entry JSON without its id, retention
//
// string.format keeps a large ID in digits, where Lua's tostring would
// switch to an exponent above 10^14.
var appendAudit = redis.NewScript(`
local id = string.format('%d', redis.call('INCR', KEYS[2]))
redis.call('ZADD', KEYS[1], id, id .. ':' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -1 - tonumber(ARGV[2]))
return id
`)

// auditBody is an audit entry as stored after its ID prefix. The outer ID
// field shadows the entry's, and being nil it is omitted.
type auditBody struct {
	policy.AuditEntry
	ID *struct{} `json:"id,omitempty"`
}

// AppendAudit implements policy.Store.
func (s *Store) AppendAudit(ctx context.Context, e policy.AuditEntry) (policy.AuditEntry, error) {
	b, err := json.Marshal(auditBody{AuditEntry: e})
	if err != nil {
		return policy.AuditEntry{}, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	k := s.keys
	id, err := appendAudit.Run(ctx, s.client, []string{k.audit, k.auditSeq}, b, policy.AuditRetention).Text()
	if err != nil {
		return policy.AuditEntry{}, unavailable(err)
	}
	if e.ID, err = strconv.ParseUint(id, 10, 64); err != nil {
		return policy.AuditEntry{}, fmt.Errorf("redis: unexpected audit id %q", id)
	}
	return e, nil
}

// AuditLog implements policy.Store.
func (s *Store) AuditLog(ctx context.Context, before uint64, limit int) ([]policy.AuditEntry, error) {
	if limit <= 0 {
		return []policy.AuditEntry{}, nil
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	top := "+inf"
	if before > 0 {
		top = "(" + strconv.FormatUint(before, 10) // exclusive
	}
	members, err := s.client.ZRevRangeByScore(ctx, s.keys.audit, &redis.ZRangeBy{
		Max: top, Min: "-inf", Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]policy.AuditEntry, 0, len(members))
	for _, m := range members {
		e, err := parseAuditMember(m)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// parseAuditMember reads one "id:JSON" member of the audit set.
func parseAuditMember(m string) (policy.AuditEntry, error) {
	idText, body, ok := strings.Cut(m, ":")
	if !ok {
		return policy.AuditEntry{}, errCorruptAudit
	}
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil {
		return policy.AuditEntry{}, errCorruptAudit
	}
	var e policy.AuditEntry
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return policy.AuditEntry{}, fmt.Errorf("%w %d: %w", errCorruptAudit, id, err)
	}
	e.ID = id
	return e, nil
}
