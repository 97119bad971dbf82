package caddymodule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("anonymous_access", parseCaddyfile)
	// With Caddy's authentication directives: after the path rewrites
	// (rewrite, uri, try_files), so the check sees the path that is
	// forwarded, and before handle, route, respond, reverse_proxy and
	// file_server, so no layout of a site runs anything unchecked.
	httpcaddyfile.RegisterDirectiveOrder("anonymous_access", httpcaddyfile.After, "forward_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var a Handler
	err := a.UnmarshalCaddyfile(h.Dispenser)
	return &a, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	anonymous_access {
//	    tenant         <id>
//	    capacity       <n>
//	    client_sessions <n>             # per client (IP, IPv6 /64); 0 = no limit
//	    session_ttl    <duration>
//	    renewal_window <duration>
//	    prefix         <path>
//	    storage        bolt [<path>]
//	    storage        redis <url>
//	    storage        redis [<url>] {
//	        url               redis://host:6379/0
//	        addresses         <host:port...>
//	        master_name       <name>
//	        cluster
//	        username          <user>
//	        password          <password>
//	        sentinel_username <user>
//	        sentinel_password <password>
//	        db                <n>
//	        tls
//	        tls_server_name   <name>
//	        tls_ca_file       <pem file>
//	        key_prefix        <prefix>
//	    }
//	    signing_key    <key>
//	    embed_origins  <origin...>
//	    public_url     <origin>
//	    identity jwt {
//	        hmac_secret <secret>        # or:
//	        public_key  <pem file>      # RSA, ECDSA or Ed25519
//	        issuer      <iss>
//	        audience    <aud>
//	        user_claim  <claim>         # default sub
//	    }
//	    identity header <Name>          # only behind forward_auth
//	    tenant_admins    <user...>
//	    analytics_admins <user...>
//	    space <id> {
//	        type  managed|shared|personal
//	        name  <name>
//	        owner <user>
//	    }
//	    app <id> {
//	        space   <space id>
//	        name    <name>
//	        entry   <path>
//	        scope   <pattern...>
//	        methods <method...>
//	        deny    <pattern...>
//	        embed_origins <origin...>
//	        anonymous on|off
//	    }
//	}
//
// Every subdirective may appear once (space and app once per id).
// Placeholders such as {env.ANON_SIGNING_KEY} are kept as written and
// resolved when the handler is provisioned.
func (a *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	ids := map[string]bool{} // "space <id>" and "app <id>" already read
	return block{
		one:  map[string]*string{"tenant": &a.Tenant, "signing_key": &a.SigningKey, "public_url": &a.PublicURL},
		many: map[string]*[]string{"embed_origins": &a.EmbedOrigins, "tenant_admins": &a.TenantAdmins, "analytics_admins": &a.AnalyticsAdmins},
		other: map[string]func() error{
			"capacity": func() error { return intArg(d, &a.Capacity, 1, "a whole number of sessions, at least 1") },
			"client_sessions": func() error {
				a.ClientSessions = new(int)
				return intArg(d, a.ClientSessions, 0, "a whole number of sessions, 0 for no limit")
			},
			"session_ttl":    func() error { return durationArg(d, &a.SessionTTL) },
			"renewal_window": func() error { return durationArg(d, &a.RenewalWindow) },
			"prefix": func() error {
				if !d.AllArgs(&a.Prefix) {
					return d.ArgErr()
				}
				if !strings.HasPrefix(a.Prefix, "/") {
					return d.Errf("prefix must start with /: %q", a.Prefix)
				}
				return nil
			},
			"storage":  func() error { return parseStorage(d, a) },
			"space":    func() error { return parseSpace(d, a, ids) },
			"app":      func() error { return parseApp(d, a, ids) },
			"identity": func() error { return parseIdentity(d, a) },
			"published_apps": func() error {
				p := &PublishedApps{}
				a.PublishedApps = p
				return block{in: "published_apps", many: map[string]*[]string{
					"scope": &p.Scope, "methods": &p.Methods, "embed_origins": &p.EmbedOrigins}}.parse(d)
			},
			"error_pages": func() error {
				if !d.AllArgs(&a.ErrorPages) {
					return d.ArgErr()
				}
				if a.ErrorPages != errorPagesBuiltin && a.ErrorPages != errorPagesCaddy {
					return d.Errf("error_pages must be builtin or caddy: %q", a.ErrorPages)
				}
				return nil
			},
		},
		repeatable: map[string]bool{"space": true, "app": true},
	}.parse(d)
}

// intArg reads the one argument of the current subdirective, a whole
// number of at least least; what says what it must be.
func intArg(d *caddyfile.Dispenser, dst *int, least int, what string) error {
	name := d.Val()
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		return d.Errf("%s must be %s: %q", name, what, s)
	}
	*dst = n
	return nil
}

// durationArg reads the one argument of the current subdirective, a
// positive duration.
func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	v, err := caddy.ParseDuration(s)
	if err != nil || v <= 0 {
		return d.Errf("%s must be a positive duration such as 15m: %q", name, s)
	}
	*dst = caddy.Duration(v)
	return nil
}

func parseStorage(d *caddyfile.Dispenser, a *Handler) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	switch args[0] {
	case "bolt":
		if len(args) > 2 {
			return d.Errf("storage bolt takes at most one path")
		}
		a.Storage = &Storage{Type: "bolt"}
		if len(args) == 2 {
			a.Storage.Path = args[1]
		}
		if d.NextBlock(d.Nesting()) {
			return d.Errf("storage bolt takes no block")
		}
	case "redis":
		a.Storage = &Storage{Type: "redis", Redis: &RedisStorage{}}
		if len(args) > 2 {
			return d.Errf("storage redis takes one URL, or a block")
		}
		if len(args) == 2 {
			a.Storage.Redis.URL = args[1]
		}
		if err := parseRedis(d, a.Storage.Redis); err != nil {
			return err
		}
		if r := a.Storage.Redis; r.URL == "" && len(r.Addresses) == 0 {
			return d.Errf("storage redis needs a URL (redis://host:6379/0) or addresses")
		}
	default:
		return d.Errf("unknown storage %q (supported: bolt, redis)", args[0])
	}
	return nil
}

// parseRedis reads the optional block of storage redis.
func parseRedis(d *caddyfile.Dispenser, r *RedisStorage) error {
	return block{
		in: "storage redis",
		one: map[string]*string{
			"url": &r.URL, "master_name": &r.MasterName, "username": &r.Username, "password": &r.Password,
			"sentinel_username": &r.SentinelUsername, "sentinel_password": &r.SentinelPassword,
			"tls_server_name": &r.TLSServerName, "tls_ca_file": &r.TLSCAFile, "key_prefix": &r.KeyPrefix,
		},
		many:  map[string]*[]string{"addresses": &r.Addresses},
		flags: map[string]*bool{"cluster": &r.Cluster, "tls": &r.TLS},
		other: map[string]func() error{"db": func() error { return intArg(d, &r.DB, 0, "a database number") }},
	}.parse(d)
}

func parseSpace(d *caddyfile.Dispenser, a *Handler, ids map[string]bool) error {
	s := SpaceConfig{}
	id, err := namedBlock(d, "space", ids, func(b *block) {
		b.one = map[string]*string{"name": &s.Name, "owner": &s.Owner}
		b.other = map[string]func() error{"type": func() error {
			if !d.AllArgs(&s.Type) {
				return d.ArgErr()
			}
			if err := policy.SpaceType(s.Type).Validate(); err != nil {
				return d.Errf("%v: %q", err, s.Type)
			}
			return nil
		}}
	})
	if err != nil {
		return err
	}
	s.ID = id
	a.Spaces = append(a.Spaces, s)
	return nil
}

func parseApp(d *caddyfile.Dispenser, a *Handler, ids map[string]bool) error {
	var app AppConfig
	id, err := namedBlock(d, "app", ids, func(b *block) {
		b.one = map[string]*string{"space": &app.Space, "name": &app.Name}
		b.many = map[string]*[]string{"scope": &app.Scope, "methods": &app.Methods, "deny": &app.Deny, "embed_origins": &app.EmbedOrigins}
		b.repeatable = map[string]bool{"allow": true}
		b.other = map[string]func() error{
			"anonymous": func() error {
				var v string
				if !d.AllArgs(&v) {
					return d.ArgErr()
				}
				if v != "on" && v != "off" {
					return d.Errf("anonymous must be on or off: %q", v)
				}
				app.Anonymous = v == "on"
				return nil
			},
			"entry": func() error {
				if !d.AllArgs(&app.Entry) {
					return d.ArgErr()
				}
				if err := policy.ValidateEntry(app.Entry); err != nil {
					return d.Err(err.Error())
				}
				return nil
			},
			"allow":  func() error { return parseAllow(d, &app) },
			"params": func() error { return parseParams(d, &app.Params) },
		}
	})
	if err != nil {
		return err
	}
	app.ID = id
	if app.Space == "" || app.Entry == "" || len(app.Scope) == 0 {
		return d.Errf("app %q needs space, entry and scope", app.ID)
	}
	a.Apps = append(a.Apps, app)
	return nil
}

// parseAllow reads `allow METHOD... PATTERN...`: the methods first, then
// the paths (inside the app's scope) they are allowed on.
func parseAllow(d *caddyfile.Dispenser, app *AppConfig) error {
	var rule policy.AllowRule
	for _, arg := range d.RemainingArgs() {
		if strings.HasPrefix(arg, "/") {
			rule.Paths = append(rule.Paths, arg)
		} else if len(rule.Paths) == 0 {
			rule.Methods = append(rule.Methods, arg)
		} else {
			return d.Errf("allow takes methods first, then paths: %q", arg)
		}
	}
	if len(rule.Methods) == 0 || len(rule.Paths) == 0 {
		return d.Err("allow needs methods and paths, such as: allow POST /api/ds/query")
	}
	app.Allow = append(app.Allow, rule)
	return nil
}

// parseParams reads a params block: one `name value` line per locked
// query parameter. Placeholders are left for provisioning.
func parseParams(d *caddyfile.Dispenser, dst *map[string]string) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = map[string]string{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		var value string
		if !d.AllArgs(&value) {
			return d.Errf("params: %s takes one value", name)
		}
		if _, dup := (*dst)[name]; dup {
			return d.Errf("params: duplicate parameter %q", name)
		}
		(*dst)[name] = value
	}
	return nil
}

// namedBlock reads "<kind> <id> { ... }", refusing a second block of the
// same kind and id; subdirectives sets up what its block accepts. It
// returns the id.
func namedBlock(d *caddyfile.Dispenser, kind string, ids map[string]bool, subdirectives func(*block)) (string, error) {
	var id string
	if !d.AllArgs(&id) {
		return "", d.ArgErr()
	}
	if ids[kind+" "+id] {
		return "", d.Errf("duplicate %s %q", kind, id)
	}
	ids[kind+" "+id] = true
	b := block{in: fmt.Sprintf("%s %q", kind, id)}
	subdirectives(&b)
	return id, b.parse(d)
}

// block is what one block of the Caddyfile accepts: subdirectives that
// take one argument, one or more, none (flags), or that parse their own.
type block struct {
	// in names the block in errors, such as `storage redis`; empty for
	// the directive's own block.
	in    string
	one   map[string]*string
	many  map[string]*[]string
	flags map[string]*bool
	other map[string]func() error
	// repeatable subdirectives may appear more than once (space and app,
	// whose blocks refuse a repeated id themselves).
	repeatable map[string]bool
}

// parse reads the block's subdirectives. Each may appear once; an unknown
// or repeated one is an error naming its line.
func (b block) parse(d *caddyfile.Dispenser) error {
	where := ""
	if b.in != "" {
		where = " in " + b.in
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if seen[name] && !b.repeatable[name] {
			return d.Errf("duplicate subdirective %q%s", name, where)
		}
		seen[name] = true
		if dst, ok := b.one[name]; ok {
			if !d.AllArgs(dst) {
				return d.ArgErr()
			}
		} else if dst, ok := b.many[name]; ok {
			if *dst = d.RemainingArgs(); len(*dst) == 0 {
				return d.ArgErr()
			}
		} else if dst, ok := b.flags[name]; ok {
			if d.NextArg() {
				return d.Errf("%s takes no argument", name)
			}
			*dst = true
		} else if fn, ok := b.other[name]; ok {
			if err := fn(); err != nil {
				return err
			}
		} else {
			return d.Errf("unknown subdirective %q%s", name, where)
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
