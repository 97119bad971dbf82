//go:build unix

package e2e

// Anonymous sessions as their holders see them: redeeming a code, the
// session cookie and its token.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// session is a started anonymous session as its holder sees it.
type session struct {
	app    string
	cookie *http.Cookie
	token  string
	jti    string
}

func (s session) cookieHeader() http.Header {
	return http.Header{"Cookie": {s.cookie.Name + "=" + s.cookie.Value}}
}

// redeem sends a code the way a script does (POST form) or the way a
// plain link does (GET query).
func (g *gateway) redeem(t *testing.T, c *client, method, app string, form url.Values) reply {
	t.Helper()
	target := g.url("/_anon/open/" + app)
	if method == http.MethodGet {
		return c.do(t, method, target+"?"+form.Encode(), nil, "")
	}
	return c.do(t, method, target, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form.Encode())
}

// open redeems a code by POST and returns the session.
func (g *gateway) open(t *testing.T, c *client, app, code string) session {
	t.Helper()
	r := g.redeem(t, c, http.MethodPost, app, url.Values{"code": {code}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("opening %s: %d %s", app, r.Status, r.Body)
	}
	return sessionFrom(t, app, r)
}

func sessionFrom(t *testing.T, app string, r reply) session {
	t.Helper()
	lines := r.Header.Values("Set-Cookie")
	if len(lines) != 1 {
		t.Fatalf("want one Set-Cookie, got %q", lines)
	}
	ck, err := http.ParseSetCookie(lines[0])
	if err != nil {
		t.Fatalf("Set-Cookie %q: %v", lines[0], err)
	}
	if ck.Name != cookiePrefix+app {
		t.Fatalf("cookie name %q, want %q", ck.Name, cookiePrefix+app)
	}
	return session{app: app, cookie: ck, token: ck.Value, jti: tokenID(t, ck.Value)}
}

// tokenClaims reads the claims of a session token's payload the tests
// look at.
func tokenClaims(t *testing.T, token string) (c struct {
	ID  string `json:"jti"`
	Exp int64  `json:"exp"`
}) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("session token is not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" || c.Exp == 0 {
		t.Fatalf("JWT payload without jti or exp: %s", payload)
	}
	return c
}

// tokenID reads the session id (jti) from a JWT's payload.
func tokenID(t *testing.T, token string) string { return tokenClaims(t, token).ID }

// getWith fetches path on g with s's cookie.
func getWith(t *testing.T, c *client, g *gateway, s session, path string) reply {
	t.Helper()
	return c.do(t, http.MethodGet, g.url(path), s.cookieHeader(), "")
}

// postCode redeems market's code on g by POST, as the landing page's
// script does, and leaves a transport error to the caller.
func postCode(c *client, g *gateway, code string) (reply, error) {
	return c.send(http.MethodPost, g.url("/_anon/open/market"),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, url.Values{"code": {code}}.Encode())
}

// rushResult is what came of redemptions sent all at once.
type rushResult struct {
	admitted []session
	by       []int    // the request that admitted each session
	full     int      // turned away with 503
	failed   []string // requests that got no answer
}

// redeemAtOnce posts n redemptions of the market app's code at once, the
// i-th from the client to the gateway that at(i) names, and sorts the
// answers: a 303 is an admitted session; a 503 must carry Retry-After and
// pass refused; anything else fails the test.
func redeemAtOnce(t *testing.T, code string, n int, at func(i int) (*client, *gateway), refused func(i int, r reply)) rushResult {
	t.Helper()
	results, errs := all(n, func(i int) (reply, error) {
		c, g := at(i)
		return postCode(c, g, code)
	})
	var out rushResult
	for i, r := range results {
		if errs[i] != nil {
			out.failed = append(out.failed, fmt.Sprintf("redemption %d: %v", i, errs[i]))
			continue
		}
		switch r.Status {
		case http.StatusSeeOther:
			out.admitted = append(out.admitted, sessionFrom(t, "market", r))
			out.by = append(out.by, i)
		case http.StatusServiceUnavailable:
			out.full++
			retryAfter(t, r)
			refused(i, r)
		default:
			t.Errorf("redemption %d: status %d %s", i, r.Status, r.Body)
		}
	}
	return out
}

// wantExactly fails unless every request got an answer, capacity of the n
// were admitted, each with a token of its own, and the others were turned
// away. detail follows the number admitted in the failure.
func (r rushResult) wantExactly(t *testing.T, capacity, n int, detail string) {
	t.Helper()
	if len(r.failed) > 0 {
		t.Fatal(r.failed[0])
	}
	if len(r.admitted) != capacity || r.full != n-capacity {
		t.Fatalf("%d admitted%s and %d turned away, want exactly %d and %d", len(r.admitted), detail, r.full, capacity, n-capacity)
	}
	tokens := map[string]bool{}
	for _, s := range r.admitted {
		tokens[s.token] = true
	}
	if len(tokens) != capacity {
		t.Errorf("%d distinct session tokens, want %d", len(tokens), capacity)
	}
}
