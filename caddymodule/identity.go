package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// Identity says how tenant users authenticate to the management API.
type Identity struct {
	// Type is "jwt" (bearer tokens from the operator's identity provider)
	// or "header" (a header set by forward_auth in front of this handler).
	Type string `json:"type"`
	// HMACSecret verifies HS256/HS384/HS512 tokens (at least 32 bytes;
	// placeholders such as {env.IDP_SECRET} are resolved). jwt only.
	HMACSecret string `json:"hmac_secret,omitempty"`
	// PublicKey is a PEM file with the identity provider's RSA, ECDSA or
	// Ed25519 public key (or certificate). jwt only.
	PublicKey string `json:"public_key,omitempty"`
	// Issuer the tokens must carry in iss. jwt only.
	Issuer string `json:"issuer,omitempty"`
	// Audience the tokens must carry in aud. jwt only.
	Audience string `json:"audience,omitempty"`
	// UserClaim is the claim holding the user id. Default "sub". jwt only.
	UserClaim string `json:"user_claim,omitempty"`
	// Header is the request header holding the user id. header only: it
	// is trusted as is, so it is safe only behind forward_auth (or another
	// proxy) that sets it on every request and drops a client's copy.
	Header string `json:"header,omitempty"`
}

// identifier finds the tenant user a request comes from.
type identifier interface {
	identify(r *http.Request) (string, error)
}

// maxBearer bounds the Authorization header; policy.JWTIdentity bounds
// the token again before parsing.
const maxBearer = 16 << 10

type jwtIdentifier struct{ v *policy.JWTIdentity }

func (j jwtIdentifier) identify(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if len(h) > maxBearer {
		return "", policy.ErrUnauthenticated
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", policy.ErrUnauthenticated
	}
	return j.v.Verify(strings.TrimSpace(token))
}

type headerIdentifier struct{ name string }

func (h headerIdentifier) identify(r *http.Request) (string, error) {
	vals := r.Header.Values(h.name)
	// Several values mean someone besides the trusted proxy set it.
	if len(vals) != 1 || policy.ValidateUserID("user", vals[0]) != nil {
		return "", policy.ErrUnauthenticated
	}
	return vals[0], nil
}

// provision builds the identifier, resolving placeholders in the secret
// and the key file's name.
func (id *Identity) provision() (identifier, error) {
	repl := caddy.NewReplacer()
	switch id.Type {
	case "header":
		if id.Header == "" || strings.ContainsAny(id.Header, " :\t\r\n") {
			return nil, errors.New("identity header: a header name such as Remote-User is required")
		}
		return headerIdentifier{name: http.CanonicalHeaderKey(id.Header)}, nil
	case "jwt":
		cfg := policy.JWTIdentityConfig{
			HMACSecret: []byte(repl.ReplaceKnown(id.HMACSecret, "")),
			Issuer:     id.Issuer,
			Audience:   id.Audience,
			UserClaim:  id.UserClaim,
		}
		if id.PublicKey != "" {
			path := repl.ReplaceKnown(id.PublicKey, "")
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("identity jwt: reading public_key: %w", err)
			}
			cfg.PublicKeyPEM = pem
		}
		v, err := policy.NewJWTIdentity(cfg)
		if err != nil {
			return nil, fmt.Errorf("identity jwt: %w", err)
		}
		return jwtIdentifier{v: v}, nil
	}
	return nil, fmt.Errorf("identity: unknown type %q: use jwt or header", id.Type)
}
