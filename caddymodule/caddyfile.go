package caddymodule

import (
	"errors"
	"strconv"

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
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if name != "space" && name != "app" {
			if seen[name] {
				return d.Errf("duplicate subdirective %q", name)
			}
			seen[name] = true
		}
		var err error
		switch name {
		case "tenant":
			err = oneArg(d, &a.Tenant)
		case "capacity":
			var s string
			if err = oneArg(d, &s); err == nil {
				if a.Capacity, err = strconv.Atoi(s); err != nil || a.Capacity < 1 {
					return d.Errf("capacity must be a whole number of sessions, at least 1: %q", s)
				}
			}
		case "session_ttl":
			err = durationArg(d, &a.SessionTTL)
		case "renewal_window":
			err = durationArg(d, &a.RenewalWindow)
		case "prefix":
			err = oneArg(d, &a.Prefix)
			if err == nil && (a.Prefix == "" || a.Prefix[0] != '/') {
				return d.Errf("prefix must start with /: %q", a.Prefix)
			}
		case "storage":
			err = parseStorage(d, a)
		case "signing_key":
			err = oneArg(d, &a.SigningKey)
		case "embed_origins":
			a.EmbedOrigins, err = someArgs(d)
		case "public_url":
			err = oneArg(d, &a.PublicURL)
		case "space":
			err = parseSpace(d, a, seen)
		case "app":
			err = parseApp(d, a, seen)
		case "identity":
			err = parseIdentity(d, a)
		case "tenant_admins":
			a.TenantAdmins, err = someArgs(d)
		case "analytics_admins":
			a.AnalyticsAdmins, err = someArgs(d)
		case "error_pages":
			err = oneArg(d, &a.ErrorPages)
			if err == nil && a.ErrorPages != errorPagesBuiltin && a.ErrorPages != errorPagesCaddy {
				return d.Errf("error_pages must be builtin or caddy: %q", a.ErrorPages)
			}
		default:
			return d.Errf("unknown subdirective %q", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s takes one argument", d.Val())
	}
	return nil
}

func someArgs(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	return args, nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
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
	own := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if own[name] {
			return d.Errf("duplicate subdirective %q in storage redis", name)
		}
		own[name] = true
		var err error
		switch name {
		case "url":
			err = oneArg(d, &r.URL)
		case "addresses":
			r.Addresses, err = someArgs(d)
		case "master_name":
			err = oneArg(d, &r.MasterName)
		case "cluster":
			r.Cluster = true
			if d.NextArg() {
				return d.Errf("cluster takes no argument")
			}
		case "username":
			err = oneArg(d, &r.Username)
		case "password":
			err = oneArg(d, &r.Password)
		case "sentinel_username":
			err = oneArg(d, &r.SentinelUsername)
		case "sentinel_password":
			err = oneArg(d, &r.SentinelPassword)
		case "db":
			var v string
			if err = oneArg(d, &v); err == nil {
				if r.DB, err = strconv.Atoi(v); err != nil || r.DB < 0 {
					return d.Errf("db must be a database number: %q", v)
				}
			}
		case "tls":
			r.TLS = true
			if d.NextArg() {
				return d.Errf("tls takes no argument")
			}
		case "tls_server_name":
			err = oneArg(d, &r.TLSServerName)
		case "tls_ca_file":
			err = oneArg(d, &r.TLSCAFile)
		case "key_prefix":
			err = oneArg(d, &r.KeyPrefix)
		default:
			return d.Errf("unknown subdirective %q in storage redis", name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseSpace(d *caddyfile.Dispenser, a *Handler, seen map[string]bool) error {
	var s SpaceConfig
	id, err := namedBlock(d, "space", seen, func(name string) error {
		switch name {
		case "type":
			if err := oneArg(d, &s.Type); err != nil {
				return err
			}
			if s.Type != "managed" && s.Type != "shared" && s.Type != "personal" {
				return d.Errf("space type must be managed, shared or personal: %q", s.Type)
			}
			return nil
		case "name":
			return oneArg(d, &s.Name)
		case "owner":
			return oneArg(d, &s.Owner)
		}
		return errUnknownSubdirective
	})
	if err != nil {
		return err
	}
	s.ID = id
	a.Spaces = append(a.Spaces, s)
	return nil
}

func parseApp(d *caddyfile.Dispenser, a *Handler, seen map[string]bool) error {
	var app AppConfig
	id, err := namedBlock(d, "app", seen, func(name string) (err error) {
		switch name {
		case "space":
			return oneArg(d, &app.Space)
		case "name":
			return oneArg(d, &app.Name)
		case "entry":
			return oneArg(d, &app.Entry)
		case "scope":
			app.Scope, err = someArgs(d)
		case "methods":
			app.Methods, err = someArgs(d)
		case "deny":
			app.Deny, err = someArgs(d)
		case "embed_origins":
			app.EmbedOrigins, err = someArgs(d)
		case "anonymous":
			var v string
			if err = oneArg(d, &v); err != nil {
				return err
			}
			if v != "on" && v != "off" {
				return d.Errf("anonymous must be on or off: %q", v)
			}
			app.Anonymous = v == "on"
		default:
			return errUnknownSubdirective
		}
		return err
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

var errUnknownSubdirective = errors.New("unknown subdirective")

// namedBlock reads "<kind> <id> { ... }": it refuses a second block of the
// same kind and id and a repeated subdirective, and calls fn for each
// subdirective, which returns errUnknownSubdirective for names it does not
// know. It returns the id.
func namedBlock(d *caddyfile.Dispenser, kind string, seen map[string]bool, fn func(name string) error) (string, error) {
	var id string
	if err := oneArgOpenBlock(d, &id); err != nil {
		return "", err
	}
	if seen[kind+" "+id] {
		return "", d.Errf("duplicate %s %q", kind, id)
	}
	seen[kind+" "+id] = true
	own := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		if own[name] {
			return "", d.Errf("duplicate subdirective %q in %s %q", name, kind, id)
		}
		own[name] = true
		if err := fn(name); errors.Is(err, errUnknownSubdirective) {
			return "", d.Errf("unknown subdirective %q in %s %q", name, kind, id)
		} else if err != nil {
			return "", err
		}
	}
	return id, nil
}

// oneArgOpenBlock reads the id of a space or app; its block follows.
func oneArgOpenBlock(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s takes one id followed by a block", *dst)
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
