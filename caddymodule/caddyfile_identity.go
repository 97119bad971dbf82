package caddymodule

import (
	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseIdentity reads the identity subdirective:
//
//	identity jwt {
//	    hmac_secret <secret>
//	    public_key  <pem file>
//	    issuer      <iss>
//	    audience    <aud>
//	    user_claim  <claim>
//	}
//	identity header <Name>
//
// jwt needs exactly one of hmac_secret and public_key, and issuer and
// audience (policy.CheckJWTIdentitySettings); the rest is checked when the
// handler is provisioned, after placeholders are resolved.
func parseIdentity(d *caddyfile.Dispenser, a *Handler) error {
	if !d.NextArg() {
		return d.Errf("identity needs a type: jwt or header")
	}
	switch d.Val() {
	case "header":
		id := &Identity{Type: "header"}
		if !d.AllArgs(&id.Header) {
			return d.Errf("identity header takes the header's name, such as Remote-User")
		}
		if d.NextBlock(d.Nesting()) {
			return d.Errf("identity header takes no block")
		}
		a.Identity = id
		return nil
	case "jwt":
		if d.NextArg() {
			return d.Errf("identity jwt takes a block, not arguments")
		}
		id := &Identity{Type: "jwt"}
		err := block{in: "identity jwt", one: map[string]*string{
			"hmac_secret": &id.HMACSecret, "public_key": &id.PublicKey,
			"issuer": &id.Issuer, "audience": &id.Audience, "user_claim": &id.UserClaim,
		}}.parse(d)
		if err != nil {
			return err
		}
		if err := policy.CheckJWTIdentitySettings(id.HMACSecret != "", id.PublicKey != "", id.Issuer, id.Audience); err != nil {
			return d.WrapErr(err)
		}
		a.Identity = id
		return nil
	}
	return d.Errf("unknown identity type %q: use jwt or header", d.Val())
}
