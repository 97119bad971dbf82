//go:build unix

package e2e

// The management API as tenant users call it, with bearer tokens from the
// tests' identity provider.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The identity provider of the end-to-end tests: tokens signed with
// idpSecret, issued by idpIssuer for the audience anonymous-access.
const (
	idpSecret   = "e2e-identity-provider-secret-0123456789abcdef"
	idpIssuer   = "https://idp.e2e.test"
	idpAudience = "anonymous-access"
)

// idpToken mints a tenant user's bearer token as the identity provider
// would, with claims changed by edit.
func idpToken(t *testing.T, user string, edit func(jwt.MapClaims)) string {
	t.Helper()
	claims := jwt.MapClaims{
		"sub": user, "iss": idpIssuer, "aud": idpAudience,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(idpSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// api is one management API request by a user (with a bearer token).
func (g *gateway) api(t *testing.T, c *client, user, method, path, body string) reply {
	t.Helper()
	return g.apiWith(t, c, bearer(t, user), method, path, body)
}

// bearer is an Authorization header with user's token.
func bearer(t *testing.T, user string) http.Header {
	t.Helper()
	return http.Header{"Authorization": {"Bearer " + idpToken(t, user, nil)}}
}

// apiWith sends a management API request with the given headers (and a
// JSON content type when there is a body).
func (g *gateway) apiWith(t *testing.T, c *client, hdr http.Header, method, path, body string) reply {
	t.Helper()
	h := hdr.Clone()
	if body != "" && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	return c.do(t, method, g.url("/_anon/api/v1"+path), h, body)
}

// wantAPI checks a management API status and that errors are JSON with
// an error code and a message.
func wantAPI(t *testing.T, what string, r reply, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, want, r.Body)
	}
	if want >= 400 {
		var e struct{ Error, Message string }
		if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == "" || e.Message == "" {
			t.Fatalf("%s: error body %q is not {\"error\",\"message\"}", what, r.Body)
		}
	}
}

// decodeJSON reads a reply's JSON body into v.
func decodeJSON(t *testing.T, r reply, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.Body, err)
	}
}

// codeOf takes the access code out of a link's fragment.
func codeOf(t *testing.T, link string) string {
	t.Helper()
	_, frag, ok := strings.Cut(link, "#")
	if !ok {
		t.Fatalf("link without a fragment: %q", link)
	}
	for _, kv := range strings.Split(frag, "&") {
		if v, ok := strings.CutPrefix(kv, "code="); ok {
			return v
		}
	}
	t.Fatalf("link without a code: %q", link)
	return ""
}

// appJSON is the app object of the management API.
type appJSON struct {
	ID              string          `json:"id"`
	Space           string          `json:"space"`
	AnonymousAccess bool            `json:"anonymous_access"`
	Provisioned     bool            `json:"provisioned"`
	Can             map[string]bool `json:"can"`
}

type memberJSON struct {
	Type string    `json:"type"`
	User string    `json:"user"`
	Role string    `json:"role"`
	Name string    `json:"name"`
	Apps []appJSON `json:"apps"`
}

// roleJSON is the part of a role of GET /roles the tests look at.
type roleJSON struct {
	Name               string   `json:"name"`
	PublicLinkCreation string   `json:"public_link_creation"`
	Users              []string `json:"users"`
}
