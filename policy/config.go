package policy

import (
	"strings"
	"time"
)

// DefaultTenant is the tenant of a gateway whose configuration names none.
const DefaultTenant = "default"

// Defaults of a tenant's configuration (see WithDefaults), chosen for the
// model this follows: a 15-minute anonymous session; a 12-hour renewal
// window, a working day during which a dashboard left open in a tab keeps
// working on reload; room for 100 concurrent viewers until the operator
// says otherwise.
const (
	DefaultCapacity      = 100
	DefaultSessionTTL    = 15 * time.Minute
	DefaultRenewalWindow = 12 * time.Hour
	DefaultPrefix        = "/_anon"
	// DefaultClientSessions leaves room for a person with a few tabs and
	// embeds, or a small office behind one address, while no one client
	// can take a tenant's capacity.
	DefaultClientSessions = 10
)

// NoClientLimit as TenantConfig.ClientSessions lets one client hold any
// number of the tenant's sessions.
const NoClientLimit = -1

// TenantConfig is the part of a tenant's behaviour set by configuration.
// It may change on every config reload while sessions go on.
type TenantConfig struct {
	// Capacity is the maximum number of concurrent anonymous sessions.
	Capacity int
	// ClientSessions is the most live sessions one client (by clientKey:
	// an IPv4 address, an IPv6 /64) may hold in the tenant. At 0 or below
	// there is no limit; WithDefaults sets 0 to DefaultClientSessions, so
	// a configuration says "none" with NoClientLimit.
	ClientSessions int
	// SessionTTL is how long one anonymous session lives (15 minutes).
	SessionTTL time.Duration
	// RenewalWindow bounds how long after a session was minted a page
	// load may start a new one from its token.
	RenewalWindow time.Duration
	// PublicURL is the origin links and embed codes are built on.
	PublicURL string
	// Prefix is the path under which the gateway's endpoints live.
	Prefix string
	// EmbedOrigins are the default frame-ancestors of embed sessions.
	EmbedOrigins []string
	// Published bounds what tenant users publish through the API.
	Published PublishBounds
	// Admins are the tenant and analytics admins named in the
	// configuration.
	Admins Admins
	// OnAudit is told of every change made through the management API,
	// with the error of storing its audit entry, so that it also reaches
	// the structured log. It may be nil.
	OnAudit func(AuditEntry, error)
}

// clientLimit is ClientSessions as a store reads it: 0 for no limit.
func (c *TenantConfig) clientLimit() int { return max(c.ClientSessions, 0) }

// WithDefaults returns c with every setting left at zero set to its
// default, and the prefix in its one form: a leading slash, none
// trailing.
func (c TenantConfig) WithDefaults() TenantConfig {
	if c.Capacity == 0 {
		c.Capacity = DefaultCapacity
	}
	if c.ClientSessions == 0 {
		c.ClientSessions = DefaultClientSessions
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.RenewalWindow == 0 {
		c.RenewalWindow = DefaultRenewalWindow
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	c.Prefix = "/" + strings.Trim(c.Prefix, "/")
	return c
}
