//go:build unix

package e2e

// Who the management API takes a tenant user to be: signed tokens, public
// keys, a trusted header; and every bad identity refused.

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestE2EManagementBadIdentity sends every kind of bad identity to the
// management API: each is 401, says nothing of the token, and the same
// request with a good token works.
func TestE2EManagementBadIdentity(t *testing.T) {
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	c := newClient(t)

	// A token the gateway itself minted for an anonymous session.
	visitor := newClient(t)
	session := g.open(t, visitor, "market", g.link(t, "market"))

	b64 := base64.RawURLEncoding.EncodeToString
	unsigned := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		b64([]byte(`{"sub":"alice","iss":"`+idpIssuer+`","aud":"`+idpAudience+`","exp":`+itoa(time.Now().Add(time.Hour).Unix())+`}`)) + "."
	otherKey, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "iss": idpIssuer, "aud": idpAudience, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte("another-secret-of-the-same-length-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, auth string }{
		{"no token", ""},
		{"basic auth", "Basic YWxpY2U6c2VjcmV0"},
		{"empty bearer", "Bearer "},
		{"garbage", "Bearer not.a.token"},
		{"alg none", "Bearer " + unsigned},
		{"wrong issuer", "Bearer " + idpToken(t, "alice", func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })},
		{"wrong audience", "Bearer " + idpToken(t, "alice", func(c jwt.MapClaims) { c["aud"] = "grafana" })},
		{"expired", "Bearer " + idpToken(t, "alice", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })},
		{"no expiry", "Bearer " + idpToken(t, "alice", func(c jwt.MapClaims) { delete(c, "exp") })},
		{"another key", "Bearer " + otherKey},
		{"anonymous session token", "Bearer " + session.token},
		{"bad user id", "Bearer " + idpToken(t, "../alice", nil)},
		{"oversized", "Bearer " + strings.Repeat("a", 20<<10)},
	} {
		hdr := http.Header{}
		if tc.auth != "" {
			hdr.Set("Authorization", tc.auth)
		}
		r := g.apiWith(t, c, hdr, "GET", "/me", "")
		wantAPI(t, tc.name, r, 401)
		if tok := strings.TrimPrefix(tc.auth, "Bearer "); len(tok) > 8 && strings.Contains(string(r.Body), tok) {
			t.Fatalf("%s: the token is in the answer", tc.name)
		}
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: 401 without WWW-Authenticate", tc.name)
		}
		// A refused identity changes nothing either.
		wantAPI(t, tc.name+" resets a code", g.apiWith(t, c, hdr, "POST", "/apps/market/anonymous-access/reset-code", ""), 401)
	}
	if logs := g.stderr.String(); strings.Contains(logs, session.token) || strings.Contains(logs, otherKey) {
		t.Fatal("a token reached the log")
	}
	wantStatus(t, "the session after the refusals", getWith(t, visitor, g, session, marketEntry), 200)
	wantAPI(t, "a good token", g.api(t, c, "alice", "GET", "/me", ""), 200)
}

// TestE2EManagementPublicKeyIdentity checks identity jwt with an Ed25519
// public key file: tokens signed with its private key are accepted, and an
// HS256 token is refused (one pinned algorithm family).
func TestE2EManagementPublicKeyIdentity(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "idp.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, dir, newBackend(t), gatewayConfig{IdentityKey: keyFile})
	c := newClient(t)
	signed, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": "carol", "iss": idpIssuer, "aud": idpAudience, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	r := g.apiWith(t, c, http.Header{"Authorization": {"Bearer " + signed}}, "GET", "/capacity", "")
	wantAPI(t, "carol with an EdDSA token", r, 200)
	wantAPI(t, "an HS256 token", g.api(t, c, "carol", "GET", "/capacity", ""), 401)
}

// TestE2EManagementHeaderIdentity checks identity header: the user is the
// header's single, well-formed value.
func TestE2EManagementHeaderIdentity(t *testing.T) {
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{IdentityHeader: "X-Remote-User"})
	c := newClient(t)
	r := g.apiWith(t, c, http.Header{"X-Remote-User": {"alice"}}, "GET", "/me", "")
	wantAPI(t, "alice by header", r, 200)
	var me struct {
		User        string   `json:"user"`
		TenantRoles []string `json:"tenant_roles"`
	}
	decodeJSON(t, r, &me)
	if me.User != "alice" || len(me.TenantRoles) != 1 || me.TenantRoles[0] != "tenant_admin" {
		t.Fatalf("me: %s", r.Body)
	}
	for name, hdr := range map[string]http.Header{
		"no header":      {},
		"empty":          {"X-Remote-User": {""}},
		"two values":     {"X-Remote-User": {"bob", "alice"}},
		"path-like":      {"X-Remote-User": {"../alice"}},
		"bearer ignored": bearer(t, "alice"),
	} {
		wantAPI(t, name, g.apiWith(t, c, hdr, "GET", "/me", ""), 401)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
