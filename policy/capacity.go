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

// Admission asks a store for one new live session.
type Admission struct {
	Session SessionRecord
	// Capacity is the most live sessions the tenant may hold.
	Capacity int
	// Client is who asks, as a keyed hash (never an address), and
	// ClientLimit the most live sessions it may hold in the tenant; 0 is
	// no limit, and then the session is not counted for its client.
	Client      ClientID
	ClientLimit int
	// Renews is the expired session this one replaces, when it is a
	// renewal: a session is renewed at most once.
	Renews *Renewal
}

// Renewal names the expired session an admission renews and how long the
// store must remember that it was renewed: until its token can no longer
// be renewed anyway.
type Renewal struct {
	Key   SessionKey
	Until int64 // unix seconds: the token's renew-until
}

// Verdict is a store's answer to an Admission.
type Verdict struct {
	Outcome Outcome
	// ClientFreeAt, with ClientFull, is when the client's oldest live
	// session ends (unix seconds): the earliest it may start another.
	ClientFreeAt int64
}

// Outcome is what became of an admission.
type Outcome uint8

// Outcomes of an admission. The zero Outcome is none of them, so a
// forgotten answer never reads as admitted.
const (
	Admitted Outcome = iota + 1
	CapacityFull
	ClientFull
	AlreadyRenewed
)

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
