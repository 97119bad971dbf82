// Package caddymodule is the Caddy glue of anonymous access: the HTTP
// handler, its Caddyfile syntax, the admin API routes and the CLI command.
// Every rule lives in package policy; this package translates HTTP to
// policy calls and policy errors to HTTP.
package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/anonaccess/caddy-anonymous-access/metrics"
	"github.com/anonaccess/caddy-anonymous-access/policy"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler lets anonymous users reach shared analytics content. Requests
// under Prefix are the gateway's own (links, landing page, session info);
// every other request is protected content, passed to the next handler only
// with a live anonymous session whose app covers it.
type Handler struct {
	// Tenant namespaces state: handlers with one tenant share apps,
	// sessions and capacity. Default "default".
	Tenant string `json:"tenant,omitempty"`
	// Capacity is the maximum number of concurrent anonymous sessions of
	// the tenant. Default 100.
	Capacity int `json:"capacity,omitempty"`
	// ClientSessions is the most live sessions one client may hold in the
	// tenant, so that no one client can take the capacity; 0 is no limit.
	// The client is Caddy's client IP (which honours the server's
	// trusted_proxies), an IPv6 address counted by its /64. Default 10.
	ClientSessions *int `json:"client_sessions,omitempty"`
	// SessionTTL is the life of one anonymous session. Default 15m.
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`
	// RenewalWindow is how long after a session started a page reload may
	// start a new session without the link. Default 12h.
	RenewalWindow caddy.Duration `json:"renewal_window,omitempty"`
	// Prefix is the path of the gateway's own endpoints. Default /_anon.
	Prefix string `json:"prefix,omitempty"`
	// Storage says where state is kept. Default: bolt under Caddy's data
	// directory.
	Storage *Storage `json:"storage,omitempty"`
	// SigningKey signs session tokens (at least 32 bytes; placeholders
	// such as {env.ANON_SIGNING_KEY} are resolved). When empty a key is
	// generated once and kept in storage.
	SigningKey string `json:"signing_key,omitempty"`
	// EmbedOrigins are the origins allowed to frame embed sessions unless
	// an app names its own (the frame-ancestors of its responses).
	EmbedOrigins []string `json:"embed_origins,omitempty"`
	// PublicURL is the origin used in links and embed codes, such as
	// https://share.example.com. Required.
	PublicURL string `json:"public_url,omitempty"`
	// Spaces are provisioned spaces.
	Spaces []SpaceConfig `json:"spaces,omitempty"`
	// Apps are provisioned apps, editable only through configuration.
	Apps []AppConfig `json:"apps,omitempty"`
	// Identity says how tenant users authenticate to the management API
	// under {prefix}/api/v1. Without it the management API is off.
	Identity *Identity `json:"identity,omitempty"`
	// TenantAdmins are user ids that are tenant admins whatever the
	// stored role assignments say: the first admins of a new tenant.
	TenantAdmins []string `json:"tenant_admins,omitempty"`
	// AnalyticsAdmins are user ids that are analytics admins whatever the
	// stored role assignments say.
	AnalyticsAdmins []string `json:"analytics_admins,omitempty"`
	// PublishedApps bounds the apps tenant users publish or edit through
	// the management API. Without it they are read-only (GET, HEAD) and
	// frame only to EmbedOrigins.
	PublishedApps *PublishedApps `json:"published_apps,omitempty"`
	// ErrorPages says who shows a refusal (no session, out of scope, link
	// not valid, capacity reached, …): "builtin" (default) answers with
	// the handler's own page, or JSON for scripts; "caddy" returns the
	// error to Caddy, so the site's handle_errors routes render it with
	// {http.error.status_code}, {http.anonymous_access.reason} and
	// {http.anonymous_access.retry_after}.
	ErrorPages string `json:"error_pages,omitempty"`

	identify identifier
	gateway  *http.ServeMux
	api      *http.ServeMux
	tenant   *tenantHandle
	poolKey  string
	logger   *zap.Logger
	now      func() time.Time
}

// PublishedApps are the operator's bounds on apps published through the
// management API.
type PublishedApps struct {
	// Scope lists the patterns every scope and deny pattern of such an
	// app must lie under. Default: any path.
	Scope []string `json:"scope,omitempty"`
	// Methods are the most such an app may allow. Default GET HEAD.
	Methods []string `json:"methods,omitempty"`
	// EmbedOrigins are the origins such an app may list. Default: the
	// handler's embed_origins. Wildcards are never accepted from the API.
	EmbedOrigins []string `json:"embed_origins,omitempty"`
}

// SpaceConfig is a provisioned space.
type SpaceConfig struct {
	// ID of the space.
	ID string `json:"id"`
	// Type: managed, shared or personal. Only managed spaces may hold
	// apps with anonymous access.
	Type string `json:"type,omitempty"`
	// Name shown to users.
	Name string `json:"name,omitempty"`
	// Owner is the user id of the space owner.
	Owner string `json:"owner,omitempty"`
}

// AppConfig is a provisioned app.
type AppConfig struct {
	// ID of the app, used in links and cookie names.
	ID string `json:"id"`
	// Space holding the app.
	Space string `json:"space"`
	// Name shown to users and used as the embed iframe's title.
	Name string `json:"name,omitempty"`
	// Entry is where an opened link lands.
	Entry string `json:"entry"`
	// Scope lists the paths an anonymous session may reach: exact paths,
	// "/dir/*" or "prefix*".
	Scope []string `json:"scope"`
	// Methods anonymous users may use. Default GET HEAD.
	Methods []string `json:"methods,omitempty"`
	// Deny lists paths always refused, even inside the scope.
	Deny []string `json:"deny,omitempty"`
	// EmbedOrigins overrides the handler's embed origins for this app.
	EmbedOrigins []string `json:"embed_origins,omitempty"`
	// Allow grants more methods on some paths inside the scope, such as
	// POST on a dashboard's query endpoint.
	Allow []policy.AllowRule `json:"allow,omitempty"`
	// Params are query parameters locked to a value on every forwarded
	// request of the app's sessions ({env.*} and {file.*} resolved).
	Params map[string]string `json:"params,omitempty"`
	// Anonymous is the initial state of anonymous access when the app is
	// first created; afterwards the stored state wins.
	Anonymous bool `json:"anonymous,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.anonymous_access",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, opens the tenant's shared state and provisions
// the configured spaces and apps.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.now == nil {
		h.now = time.Now
	}
	cfg, err := h.settle()
	if err != nil {
		return err
	}
	if err := metrics.Register(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}

	repl := caddy.NewReplacer()
	key := repl.ReplaceKnown(h.SigningKey, "")
	publicURL := strings.TrimSuffix(repl.ReplaceKnown(h.PublicURL, ""), "/")
	if err := validatePublicURL(publicURL); err != nil {
		return err
	}

	admins, err := h.admins()
	if err != nil {
		return err
	}
	if h.Identity != nil {
		if h.identify, err = h.Identity.provision(); err != nil {
			return fmt.Errorf("anonymous_access: %w", err)
		}
	}

	storage, err := h.Storage.resolved()
	if err != nil {
		return err
	}
	cfg.PublicURL, cfg.EmbedOrigins, cfg.Admins, cfg.OnAudit = publicURL, h.EmbedOrigins, admins, h.logAudit
	if p := h.PublishedApps; p != nil {
		cfg.Published = policy.PublishBounds{Roots: p.Scope, Methods: p.Methods, EmbedOrigins: p.EmbedOrigins}
	}
	reg := h.registration(cfg, []byte(key))
	if err := policy.ValidateRegistration(reg); err != nil {
		return fmt.Errorf("anonymous_access: %w", err)
	}
	if validatingOnly() {
		// caddy validate checks the configuration, not the state: it
		// neither waits for the bolt file the running Caddy holds nor
		// writes app definitions into a store other instances share.
		return nil
	}
	handle, poolKey, err := openTenant(h.Tenant, storage, h.now)
	if err != nil {
		return err
	}
	h.tenant, h.poolKey = handle, poolKey
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := handle.tenant.Register(pctx, h, reg); err != nil {
		return fmt.Errorf("anonymous_access: %w", err)
	}
	return nil
}

// settle sets the handler's defaults (from policy's), checks the settings
// that need no state, and builds its routes.
func (h *Handler) settle() (policy.TenantConfig, error) {
	if h.Tenant == "" {
		h.Tenant = policy.DefaultTenant
	}
	if err := policy.ValidateID("tenant", h.Tenant); err != nil {
		return policy.TenantConfig{}, err
	}
	if n := h.ClientSessions; n != nil && *n < 0 {
		return policy.TenantConfig{}, fmt.Errorf("anonymous_access: client_sessions must not be negative (0 is no limit): %d", *n)
	}
	cfg := policy.TenantConfig{
		Capacity: h.Capacity, ClientSessions: clientSessions(h.ClientSessions),
		SessionTTL: time.Duration(h.SessionTTL), RenewalWindow: time.Duration(h.RenewalWindow), Prefix: h.Prefix,
	}.WithDefaults()
	h.Capacity, h.Prefix = cfg.Capacity, cfg.Prefix
	if h.ClientSessions == nil {
		n := cfg.ClientSessions
		h.ClientSessions = &n
	}
	h.SessionTTL, h.RenewalWindow = caddy.Duration(cfg.SessionTTL), caddy.Duration(cfg.RenewalWindow)
	if !validPrefix.MatchString(h.Prefix) {
		return cfg, fmt.Errorf("anonymous_access: prefix must be a clean path of letters, digits and ._~- : %q", h.Prefix)
	}
	switch h.ErrorPages {
	case "":
		h.ErrorPages = errorPagesBuiltin
	case errorPagesBuiltin, errorPagesCaddy:
	default:
		return cfg, fmt.Errorf("anonymous_access: error_pages must be builtin or caddy, not %q", h.ErrorPages)
	}
	if h.Storage == nil {
		h.Storage = &Storage{}
	}
	if h.Storage.Type == "" {
		h.Storage.Type = "bolt"
	}
	h.gateway, h.api = h.gatewayMux(), h.apiMux()
	return cfg, nil
}

// validatingOnly reports whether this process is `caddy validate`, which
// provisions every module of a configuration and then throws it away.
var validatingOnly = func() bool { return len(os.Args) > 1 && os.Args[1] == "validate" }

// clientSessions is the client_sessions setting as policy reads it: unset
// is its default, 0 is no limit.
func clientSessions(n *int) int {
	switch {
	case n == nil:
		return 0
	case *n == 0:
		return policy.NoClientLimit
	}
	return *n
}

// registration is what the handler configures for its tenant.
func (h *Handler) registration(cfg policy.TenantConfig, key []byte) policy.Registration {
	reg := policy.Registration{Config: cfg, SigningKey: key}
	for _, sp := range h.Spaces {
		reg.Spaces = append(reg.Spaces, policy.Space{ID: sp.ID, Name: sp.Name, Type: policy.SpaceType(sp.Type), Owner: sp.Owner})
	}
	for _, a := range h.Apps {
		reg.Apps = append(reg.Apps, policy.ProvisionedApp{App: policy.App{
			ID: a.ID, Name: a.Name, Space: a.Space, Entry: a.Entry,
			Scope: a.Scope, Methods: a.Methods, Deny: a.Deny, EmbedOrigins: a.EmbedOrigins,
			Allow: a.Allow, Params: resolvedParams(a.Params),
		}, InitiallyOn: a.Anonymous})
	}
	return reg
}

// resolvedParams resolves {env.*} and {file.*} in locked parameter values.
func resolvedParams(ps map[string]string) map[string]string {
	if len(ps) == 0 {
		return nil
	}
	repl := caddy.NewReplacer()
	out := make(map[string]string, len(ps))
	for k, v := range ps {
		out[k] = repl.ReplaceKnown(v, "")
	}
	return out
}

// admins checks the configured admins' user ids.
func (h *Handler) admins() (policy.Admins, error) {
	a := policy.Admins{Tenant: map[string]bool{}, Analytics: map[string]bool{}}
	for _, list := range []struct {
		field string
		ids   []string
		set   map[string]bool
	}{{"tenant_admins", h.TenantAdmins, a.Tenant}, {"analytics_admins", h.AnalyticsAdmins, a.Analytics}} {
		for _, id := range list.ids {
			if err := policy.ValidateUserID(list.field, id); err != nil {
				return a, fmt.Errorf("anonymous_access: %w", err)
			}
			list.set[id] = true
		}
	}
	return a, nil
}

// logAudit writes every management change to the log as well as to the
// store's audit log.
func (h *Handler) logAudit(e policy.AuditEntry, err error) {
	fields := []zap.Field{
		zap.String("tenant", h.Tenant), zap.Uint64("id", e.ID), zap.String("actor", e.Actor),
		zap.String("from", e.From), zap.String("action", e.Action),
	}
	for _, f := range []struct{ k, v string }{{"space", e.Space}, {"app", e.App}, {"user", e.User}, {"role", e.Role}, {"value", e.Value}} {
		if f.v != "" {
			fields = append(fields, zap.String(f.k, f.v))
		}
	}
	if err != nil {
		h.logger.Error("audit entry not stored", append(fields, zap.Error(err))...)
		return
	}
	h.logger.Info("audit", fields...)
}

func validatePublicURL(s string) error {
	if s == "" {
		return errors.New("anonymous_access: public_url is required: the origin used in links and embed codes, such as https://share.example.com")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("anonymous_access: public_url must be an origin such as https://share.example.com")
	}
	return nil
}

// Cleanup releases what Provision took: the handler's registration of its
// provisioned apps and its reference to the tenant's shared state.
func (h *Handler) Cleanup() error {
	if h.tenant == nil {
		return nil
	}
	h.tenant.tenant.Unregister(h)
	_, err := tenants.Delete(h.poolKey)
	h.tenant = nil
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
