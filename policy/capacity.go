package policy

import (
	"context"
	"encoding/base64"
)

// SessionKey is a session id in its compact, comparable form.
type SessionKey [sessionIDBytes]byte

// ParseSessionKey decodes a session id into its key.
func ParseSessionKey(id string) (SessionKey, bool) {
	var k SessionKey
	if base64.RawURLEncoding.DecodedLen(len(id)) != len(k) {
		return k, false
	}
	n, err := base64.RawURLEncoding.Decode(k[:], []byte(id))
	return k, err == nil && n == len(k)
}

// SessionRecord is what capacity tracking keeps of a live session:
// 16 bytes of id, the app and the expiry, nothing else.
type SessionRecord struct {
	Key       SessionKey
	App       string
	ExpiresAt int64 // unix seconds
}

// Usage is a snapshot of a tenant's sessions.
type Usage struct {
	// Active is the number of live sessions.
	Active int `json:"active"`
	// Peak is the highest Active seen.
	Peak int `json:"peak"`
	// PerApp is Active broken down by app.
	PerApp map[string]int `json:"per_app"`
}

// CapacityReport is the tenant's capacity and its use.
type CapacityReport struct {
	Tenant   string `json:"tenant"`
	Capacity int    `json:"capacity"`
	Usage
	// History is the most live sessions seen in each minute of the last
	// hour, oldest first, as this gateway instance observed them.
	History []UsagePoint `json:"history"`
}

// Capacity reports capacity, live sessions and peak.
func (t *Tenant) Capacity(ctx context.Context) (CapacityReport, error) {
	now := t.now()
	u, err := t.store.Usage(ctx, now)
	if err != nil {
		return CapacityReport{}, err
	}
	t.history.observe(now, u.Active)
	return CapacityReport{Tenant: t.name, Capacity: t.cfg.Load().Capacity, Usage: u, History: t.history.lastHour(now)}, nil
}
