package policy

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
)

// SpaceType is the kind of a space. Only managed spaces may hold apps with
// anonymous access.
type SpaceType string

// The space types.
const (
	SpaceManaged  SpaceType = "managed"
	SpaceShared   SpaceType = "shared"
	SpacePersonal SpaceType = "personal"
)

// Validate checks that t is one of the space types.
func (t SpaceType) Validate() error {
	switch t {
	case SpaceManaged, SpaceShared, SpacePersonal:
		return nil
	}
	return invalid("space type", "must be managed, shared or personal")
}

// Space groups apps and the people who work on them.
type Space struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Type  SpaceType `json:"type"`
	Owner string    `json:"owner,omitempty"`
	// Provisioned spaces come from the operator's configuration.
	Provisioned bool `json:"provisioned"`
}

// Validate checks a space definition.
func (s Space) Validate() error {
	if err := ValidateID("space id", s.ID); err != nil {
		return err
	}
	if err := s.Type.Validate(); err != nil {
		return err
	}
	if err := validateName("space name", s.Name); err != nil {
		return err
	}
	return nil
}

// App is a piece of analytics content (a dashboard, a report) served by a
// backend, as shown to operators and tenant users. It never holds the
// access code.
type App struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Space string `json:"space"`
	// Entry is where an opened link lands.
	Entry string `json:"entry"`
	// Scope lists the paths an anonymous session may reach.
	Scope []string `json:"scope"`
	// Methods lists the HTTP methods anonymous users may use.
	Methods []string `json:"methods"`
	// Deny lists paths always refused, even inside the scope.
	Deny []string `json:"deny"`
	// EmbedOrigins are the origins allowed to frame the app's embed
	// sessions; empty means the gateway's default.
	EmbedOrigins []string `json:"embed_origins,omitempty"`
	// Allow grants more methods on some paths inside the scope, so an app
	// can stay read-only except, say, its query endpoint.
	Allow []AllowRule `json:"allow,omitempty"`
	// Params are query parameters locked to a value on every forwarded
	// request of the app's sessions, whatever the viewer sends.
	Params map[string]string `json:"params,omitempty"`
	// AnonymousAccess tells whether the app link and embed code work.
	AnonymousAccess bool `json:"anonymous_access"`
	// Provisioned apps come from the operator's configuration and can be
	// edited only there.
	Provisioned bool `json:"provisioned"`
}

// AppRecord is an app with its secret state, as the store keeps it.
type AppRecord struct {
	App
	// Code is the access code carried by links and embed codes.
	Code string `json:"code"`
	// Version changes whenever the app is turned off or its code reset,
	// so that every session minted before ends on its next request. It
	// never repeats for an app id: a new app starts at a random version
	// (newVersion) and a taken-over one above its old versions.
	Version uint64 `json:"version"`
	// Retired marks a provisioned app the configuration in force no
	// longer has: provisioning it again takes it over like a new app.
	Retired bool `json:"retired,omitempty"`
}

// newVersion is the first version of a new app: random, so an app deleted
// and published again under the same id never meets a version, and so a
// session, of the app it replaces. Below 2^52, so it stays exact wherever
// a JSON number is read as a double.
func newVersion() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return 1<<32 + binary.BigEndian.Uint64(b[:])%(1<<52-1<<32)
}

// Reprovisioned is what a store keeps when the configuration provisions
// rec over old, an app already stored under the same id. The
// configuration's definition always wins. A provisioned app keeps its
// code, version and state across reloads and restarts. An app a tenant
// user published, or one the configuration had dropped, is taken over:
// rec's new code and initial state, and a version above every version old
// had, so no session or cookie of old ever counts again. A record that is
// not provisioned (a store's own tests) keeps the old state.
func Reprovisioned(old, rec AppRecord) AppRecord {
	if !rec.Provisioned || (old.Provisioned && !old.Retired) {
		rec.Code, rec.Version, rec.AnonymousAccess = old.Code, old.Version, old.AnonymousAccess
		return rec
	}
	rec.Version = max(rec.Version, old.Version+1)
	rec.Retired = false
	return rec
}

// maxIDLen bounds ids, which appear in URLs, cookie names and metric labels.
const maxIDLen = 64

// ValidateID checks an app, space or tenant id: 1 to 64 characters of
// lower-case letters, digits, '-' and '_', starting with a letter or digit.
// This keeps ids safe in paths, cookie names, store keys and metric labels.
func ValidateID(field, id string) error {
	if id == "" || len(id) > maxIDLen {
		return invalid(field, "must be 1 to 64 characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_'))
		if !ok {
			return invalid(field, "must be lower-case letters, digits, '-' or '_', starting with a letter or digit")
		}
	}
	return nil
}

func validateName(field, name string) error {
	if len(name) > 200 {
		return invalid(field, "must be at most 200 characters")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}

// Normalize fills defaults (a name from the id, GET and HEAD as methods)
// and upper-cases methods into a slice of its own, leaving the caller's
// configuration untouched.
func (a *App) Normalize() {
	if a.Name == "" {
		a.Name = a.ID
	}
	methods := a.Methods
	if len(methods) == 0 {
		methods = DefaultMethods
	}
	a.Methods = make([]string, len(methods))
	for i, m := range methods {
		a.Methods[i] = strings.ToUpper(m)
	}
	if a.Scope == nil {
		a.Scope = []string{}
	}
	if a.Deny == nil {
		a.Deny = []string{}
	}
	a.normalizeAllow()
}

// Validate checks an app definition: ids, a clean entry inside the scope
// and not denied, valid patterns and known methods.
func (a App) Validate() error {
	if err := ValidateID("app id", a.ID); err != nil {
		return err
	}
	if err := ValidateID("space", a.Space); err != nil {
		return err
	}
	if err := validateName("app name", a.Name); err != nil {
		return err
	}
	if len(a.Scope) == 0 {
		return invalid("scope", "at least one path pattern is required")
	}
	for _, p := range a.Scope {
		if err := ValidatePattern(p); err != nil {
			return invalid("scope", err.(*InvalidError).Reason)
		}
	}
	for _, p := range a.Deny {
		if err := ValidatePattern(p); err != nil {
			return invalid("deny", err.(*InvalidError).Reason)
		}
	}
	for _, m := range a.Methods {
		if !knownMethods[m] {
			return invalid("methods", "unknown HTTP method")
		}
	}
	if err := ValidateEntry(a.Entry); err != nil {
		return err
	}
	if p := EntryPath(a.Entry); !toPathSet(a.Scope).Match(p) || toPathSet(a.Deny).Match(p) {
		return invalid("entry", "must be inside the scope and not denied: "+p)
	}
	if err := a.validateAllow(); err != nil {
		return err
	}
	if err := validateParams(a.Params); err != nil {
		return err
	}
	for _, o := range a.EmbedOrigins {
		if err := ValidateOrigin(o); err != nil {
			return err
		}
	}
	return nil
}

// ValidateOrigin checks an origin for frame-ancestors: a scheme and host,
// optionally a port, nothing else; or the keyword 'self'. A wildcard may
// only stand for the subdomains of a named domain (https://*.example.org):
// "*" or "https://*" would let any site frame the content.
func ValidateOrigin(o string) error {
	if o == "'self'" {
		return nil
	}
	rest, ok := strings.CutPrefix(o, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(o, "http://")
	}
	if !ok || rest == "" || strings.ContainsAny(rest, "/?#;, '\"\\") {
		return invalid("embed origin", "must be an origin such as https://www.example.org")
	}
	if host, sub := strings.CutPrefix(rest, "*."); strings.Contains(host, "*") || (sub && !strings.Contains(host, ".")) || (!sub && strings.Contains(rest, "*")) {
		return invalid("embed origin", "wildcards may only name subdomains of a domain, such as https://*.example.org")
	}
	for _, r := range rest {
		if r <= 0x20 || r == 0x7f {
			return invalid("embed origin", "must be an origin such as https://www.example.org")
		}
	}
	return nil
}

func toPathSet(ps []string) PathSet {
	out := make(PathSet, len(ps))
	for i, p := range ps {
		out[i] = PathPattern(p)
	}
	return out
}

// Access decides what an anonymous session of an app may reach.
type Access struct {
	scope   PathSet
	deny    PathSet
	methods MethodSet
	allow   []compiledRule
}

// NewAccess compiles an app's scope, deny list, methods and allow rules.
func NewAccess(a App) Access {
	ac := Access{scope: toPathSet(a.Scope), deny: toPathSet(a.Deny), methods: MethodSet(a.Methods)}
	for _, r := range a.Allow {
		ac.allow = append(ac.allow, compiledRule{methods: MethodSet(r.Methods), paths: toPathSet(r.Paths)})
	}
	return ac
}

// Allow decides a request on a path already accepted by CheckPath: the
// path must be in scope and not denied, then the method allowed.
func (ac Access) Allow(method, path string) error {
	if !ac.scope.Match(path) || ac.deny.Match(path) {
		return ErrOutOfScope
	}
	if !ac.methods.Allows(method) && !ac.allows(method, path) {
		return ErrMethodNotAllowed
	}
	return nil
}

// Covers reports whether a path is reachable for reading: in scope and not
// denied. It is used to accept an embed code's object path.
func (ac Access) Covers(path string) bool {
	return ac.scope.Match(path) && !ac.deny.Match(path)
}

// maxUserIDLen bounds user ids, which come from the identity provider.
const maxUserIDLen = 128

// ValidateUserID checks a tenant user's id as it comes from the identity
// provider (a subject, an e-mail address, "idp|1234"): 1 to 128 letters,
// digits and . _ @ + - | :, not starting with a dot and without "..". It
// appears in paths, the audit log and structured logs, so nothing that
// could read as a path segment, a separator or a control is let in.
func ValidateUserID(field, id string) error {
	if id == "" || len(id) > maxUserIDLen {
		return invalid(field, "must be 1 to 128 characters")
	}
	if id[0] == '.' || strings.Contains(id, "..") {
		return invalid(field, "must not start with '.' or contain '..'")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._@+-|:", c) >= 0
		if !ok {
			return invalid(field, "must be letters, digits and . _ @ + - | : only")
		}
	}
	return nil
}
