package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// Live sessions are two sorted sets scored by expiry (unix seconds): the
// tenant's, whose members are the 16-byte session key followed by the app,
// and one per app, whose members are the bare keys; under client_sessions,
// a third per client (see admitScript). Every script first
// drops the sessions expired at now from both, so a slot is never held
// past its session's expiry: not by a gateway that crashed right after
// admitting, nor by one that never calls again. Nothing else needs a TTL.
//
// "now" is the calling gateway's clock, passed in, not the server's TIME:
// ExpiresAt comes from that same clock (it is the token's exp), so expiry
// is decided on one clock, and tests can move it. Gateways whose clocks
// disagree by s seconds see sessions end up to s seconds apart; NTP keeps
// that well under a second.

// expireLua drops the sessions expired at now from the tenant's set and
// from their apps' sets, and forgets apps left without sessions. Expired
// members are read before they are removed, so the per-app sets are
// cleaned in the same step; the work is proportional to what expired.
// The per-app keys are built here rather than passed in KEYS, but they
// share the tenant's hash tag, hence its slot, so Cluster serves them.
const expireLua = `
local function expire(sessions, apps, appPrefix, now)
  local gone = redis.call('ZRANGEBYSCORE', sessions, '-inf', now)
  if #gone == 0 then return end
  local byApp = {}
  for _, m in ipairs(gone) do
    local app = string.sub(m, 17)
    local ks = byApp[app]
    if not ks then ks = {}; byApp[app] = ks end
    ks[#ks + 1] = string.sub(m, 1, 16)
  end
  for app, ks in pairs(byApp) do
    local key = appPrefix .. app
    for i = 1, #ks, 1000 do
      redis.call('ZREM', key, unpack(ks, i, math.min(i + 999, #ks)))
    end
    if redis.call('EXISTS', key) == 0 then redis.call('SREM', apps, app) end
  end
  redis.call('ZREMRANGEBYSCORE', sessions, '-inf', now)
end
`

// admitScript admits sessions in order, each if it is not a renewal of a
// session renewed before, its client holds fewer than its limit, and
// fewer than capacity are live at its now: a batch of concurrent
// admissions in one script run, so the server pays for one call, not one
// per session, and each admission is decided in one step against all
// three.
//
//	KEYS: sessions, session_apps, peak
//	ARGV: app key prefix, client key prefix, renewed key prefix, then per
//	      session: now, capacity, session key, app, expires at, client
//	      (hex; "" without a limit), client limit, renewed session
//	      (hex; "" unless a renewal), renew-until
//
// A client's sessions are a sorted set like the tenant's (the same
// members, scored by expiry). Below the limit its size decides at once
// (what it holds, expired or not, is fewer than the limit); at the limit
// the expired entries are dropped, and the sessions ended early
// (EndSessions) too, by looking each one up in the tenant's set, before it
// is counted again. A renewed session is a string holding its
// renew-until. Both carry a TTL (server time, never shortened) only to be
// collected once useless; what counts is the gateway's now against the
// scores and values, like everywhere else here.
//
// Sessions of a batch mostly share their now (whole seconds), so expired
// sessions are dropped once per distinct now. It returns two numbers per
// session: 1 admitted, 0 capacity full, 2 client full (then the time its
// first session ends), 3 already renewed. A session already live is
// admitted again without counting twice, so a call retried after a lost
// reply cannot take two slots. The per-app, per-client and renewed keys
// are built here, like expire's.
var admitScript = redis.NewScript(expireLua + `
local function clientFreeAt(key, limit, now)
  local n = redis.call('ZCARD', key)
  if n < limit then return false, n end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if not redis.call('ZSCORE', KEYS[1], m) then
      redis.call('ZREM', key, m)
    end
  end
  n = redis.call('ZCARD', key)
  if n < limit then return false, n end
  return tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]), n
end
local function holdFor(key, held, exp, now)
  local ttl = exp - now + 60
  if held == 0 or redis.call('TTL', key) < ttl then
    redis.call('EXPIRE', key, ttl)
  end
end
local out = {}
local peak = tonumber(redis.call('GET', KEYS[3]) or '0')
local top = peak
local expiredAt
for i = 4, #ARGV, 9 do
  local now, capacity, key, app, exp = ARGV[i], tonumber(ARGV[i+1]), ARGV[i+2], ARGV[i+3], ARGV[i+4]
  local limit, renews = tonumber(ARGV[i+6]), ARGV[i+7]
  local member = key .. app
  local clientKey, renewedKey
  if limit > 0 then clientKey = ARGV[2] .. ARGV[i+5] end
  if renews ~= '' then renewedKey = ARGV[3] .. renews end
  if now ~= expiredAt then
    expire(KEYS[1], KEYS[2], ARGV[1], now)
    expiredAt = now
  end
  local freeAt, held
  if redis.call('ZSCORE', KEYS[1], member) then
    out[#out + 1] = 1; out[#out + 1] = 0
  elseif renewedKey and tonumber(redis.call('GET', renewedKey) or '0') > tonumber(now) then
    out[#out + 1] = 3; out[#out + 1] = 0
  else
    if limit > 0 then freeAt, held = clientFreeAt(clientKey, limit, now) end
    if freeAt then
      out[#out + 1] = 2; out[#out + 1] = freeAt
    else
      local n = redis.call('ZCARD', KEYS[1])
      if n >= capacity then
        out[#out + 1] = 0; out[#out + 1] = 0
      else
        redis.call('ZADD', KEYS[1], exp, member)
        redis.call('ZADD', ARGV[1] .. app, exp, key)
        redis.call('SADD', KEYS[2], app)
        if limit > 0 then
          redis.call('ZADD', clientKey, exp, member)
          holdFor(clientKey, held, tonumber(exp), tonumber(now))
        end
        if renewedKey then
          local untl = tonumber(ARGV[i+8])
          if untl > tonumber(now) then
            redis.call('SET', renewedKey, untl, 'EX', untl - tonumber(now) + 60)
          end
        end
        if n + 1 > top then top = n + 1 end
        out[#out + 1] = 1; out[#out + 1] = 0
      end
    end
  end
end
if top > peak then redis.call('SET', KEYS[3], top) end
return out
`)

// endScript ends every live session of an app.
//
//	KEYS: sessions, the app's sessions, session_apps
//	ARGV: app
var endScript = redis.NewScript(`
local ks = redis.call('ZRANGE', KEYS[2], 0, -1)
for i = 1, #ks, 1000 do
  local ms = {}
  for j = i, math.min(i + 999, #ks) do ms[#ms + 1] = ks[j] .. ARGV[1] end
  redis.call('ZREM', KEYS[1], unpack(ms))
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return #ks
`)

// usageScript returns the live count, the peak, then app and count pairs.
//
//	KEYS: sessions, session_apps, peak
//	ARGV: now, app key prefix
var usageScript = redis.NewScript(expireLua + `
expire(KEYS[1], KEYS[2], ARGV[2], ARGV[1])
local out = {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('GET', KEYS[3]) or '0')}
for _, app in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local n = redis.call('ZCARD', ARGV[2] .. app)
  if n > 0 then
    out[#out + 1] = app
    out[#out + 1] = n
  end
end
return out
`)

// AdmitSession implements policy.Store with one server-side script, so
// admission is exact across any number of gateway instances. Admissions
// that arrive while others are on their way to the server travel together
// in one script call (see admissions.go), which decides them in order
// against the capacity, their clients' limits and the renewals made,
// atomically.
func (s *Store) AdmitSession(ctx context.Context, a policy.Admission, now time.Time) (policy.Verdict, error) {
	if a.Capacity <= 0 {
		return policy.Verdict{Outcome: policy.CapacityFull}, nil
	}
	return s.admissions.admit(ctx, s, admission{Admission: a, now: now})
}

// EndSessions implements policy.Store.
func (s *Store) EndSessions(ctx context.Context, app string) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	k := s.keys
	err := endScript.Run(ctx, s.client, []string{k.sessions, k.appSessions(app), k.sessionApps}, app).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Usage implements policy.Store.
func (s *Store) Usage(ctx context.Context, now time.Time) (policy.Usage, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	k := s.keys
	vals, err := usageScript.Run(ctx, s.client, []string{k.sessions, k.sessionApps, k.peak},
		now.Unix(), k.appSessionsPrefix).Slice()
	if err != nil {
		return policy.Usage{}, unavailable(err)
	}
	return parseUsage(vals)
}

// parseUsage reads usageScript's reply.
func parseUsage(vals []any) (policy.Usage, error) {
	bad := fmt.Errorf("redis: unexpected usage reply %v", vals)
	if len(vals) < 2 || len(vals)%2 != 0 {
		return policy.Usage{}, bad
	}
	active, ok1 := vals[0].(int64)
	peak, ok2 := vals[1].(int64)
	if !ok1 || !ok2 {
		return policy.Usage{}, bad
	}
	u := policy.Usage{Active: int(active), Peak: int(peak), PerApp: make(map[string]int, len(vals)/2-1)}
	for i := 2; i < len(vals); i += 2 {
		app, ok1 := vals[i].(string)
		n, ok2 := vals[i+1].(int64)
		if !ok1 || !ok2 {
			return policy.Usage{}, bad
		}
		u.PerApp[app] = int(n)
	}
	return u, nil
}
