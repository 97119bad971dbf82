package caddymodule

import (
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
// audience; the rest is checked when the handler is provisioned, after
// placeholders are resolved.
func parseIdentity(d *caddyfile.Dispenser, a *Handler) error {
	if !d.NextArg() {
		return d.Errf("identity needs a type: jwt or header")
	}
	switch d.Val() {
	case "header":
		id := &Identity{Type: "header"}
		if err := oneArg(d, &id.Header); err != nil {
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
		own := map[string]bool{}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			name := d.Val()
			if own[name] {
				return d.Errf("duplicate subdirective %q in identity jwt", name)
			}
			own[name] = true
			var err error
			switch name {
			case "hmac_secret":
				err = oneArg(d, &id.HMACSecret)
			case "public_key":
				err = oneArg(d, &id.PublicKey)
			case "issuer":
				err = oneArg(d, &id.Issuer)
			case "audience":
				err = oneArg(d, &id.Audience)
			case "user_claim":
				err = oneArg(d, &id.UserClaim)
			default:
				return d.Errf("unknown subdirective %q in identity jwt", name)
			}
			if err != nil {
				return err
			}
		}
		switch {
		case (id.HMACSecret == "") == (id.PublicKey == ""):
			return d.Errf("identity jwt needs exactly one of hmac_secret and public_key")
		case id.Issuer == "" || id.Audience == "":
			return d.Errf("identity jwt needs issuer and audience")
		}
		a.Identity = id
		return nil
	}
	return d.Errf("unknown identity type %q: use jwt or header", d.Val())
}
