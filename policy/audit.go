package policy

import "time"

// AuditRetention is how many audit entries a store keeps per tenant; the
// oldest go first.
const AuditRetention = 100_000

// AuditEntry records one change made through the management API: who did
// what, when, from where. It never holds an access code, a token or a
// session id.
type AuditEntry struct {
	// ID increases with every entry of a tenant; pages are asked for
	// before an ID.
	ID     uint64    `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	From   string    `json:"from,omitempty"`
	Action string    `json:"action"`
	Space  string    `json:"space,omitempty"`
	App    string    `json:"app,omitempty"`
	User   string    `json:"user,omitempty"`
	Role   string    `json:"role,omitempty"`
	// Value is the new value, when the action sets one: "on", "off",
	// "allowed", a space role, a list of roles.
	Value string `json:"value,omitempty"`
}
