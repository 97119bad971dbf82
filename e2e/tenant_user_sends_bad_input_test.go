//go:build unix

package e2e

// Malformed input to the management API is refused and changes nothing.

import (
	"net/http"
	"strings"
	"testing"
)

// TestE2EManagementBadInput sends malformed bodies and ids to the
// management API: each is 400 (413 when too large, 415 when not JSON), and
// afterwards spaces, apps, roles and the audit log are as before.
func TestE2EManagementBadInput(t *testing.T) {
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	c := newClient(t)
	wantAPI(t, "alice creates a space", g.api(t, c, "alice", "POST", "/spaces", `{"id":"pub","name":"Public","type":"managed"}`), 201)
	state := func() string {
		t.Helper()
		var b strings.Builder
		for _, p := range []string{"/spaces", "/roles", "/audit", "/spaces/pub/members", "/apps/market"} {
			r := g.api(t, c, "alice", "GET", p, "")
			wantAPI(t, "reading "+p, r, 200)
			b.Write(r.Body)
		}
		return b.String()
	}
	before := state()

	for _, tc := range badManagementInput {
		r := g.api(t, c, "alice", tc.method, tc.path, tc.body)
		wantAPI(t, tc.name, r, tc.want)
	}
	r := g.apiWith(t, c, mergeHeaders(bearer(t, "alice"), http.Header{"Content-Type": {"text/plain"}}),
		"POST", "/spaces", `{"id":"x","type":"shared"}`)
	wantAPI(t, "text/plain body", r, 415)

	// Another site's page cannot make changes, even with the user's
	// identity (a cookie behind forward_auth would ride along).
	for name, hdr := range map[string]http.Header{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": {"cross-site"}},
		"Sec-Fetch-Site same-site":  {"Sec-Fetch-Site": {"same-site"}},
		"foreign Origin":            {"Origin": {"https://evil.example"}},
	} {
		wantAPI(t, name, g.apiWith(t, c, mergeHeaders(hdr, bearer(t, "alice")), "POST", "/apps/market/anonymous-access/reset-code", ""), 403)
	}
	same := mergeHeaders(bearer(t, "alice"), http.Header{"Origin": {"http://" + g.site}, "Sec-Fetch-Site": {"same-origin"}})
	wantAPI(t, "a same-origin read", g.apiWith(t, c, same, "GET", "/me", ""), 200)

	// Dot segments as sent, without a client library cleaning them.
	auth := map[string]string{"Authorization": "Bearer " + idpToken(t, "alice", nil)}
	for _, target := range []string{"/_anon/api/v1/users/../roles", "/_anon/api/v1/spaces/pub/members/./x", "/_anon/api/v1/apps/market/../../roles"} {
		if status, body := rawRequest(t, g.site, "GET", target, auth); status != 400 {
			t.Fatalf("%s: %d %s", target, status, body)
		}
	}

	if after := state(); after != before {
		t.Fatalf("bad input changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

// badManagementInput is malformed bodies and ids for the management API,
// each with the status that refuses it.
var badManagementInput = []struct {
	name, method, path, body string
	want                     int
}{
	{"unknown field", "POST", "/spaces", `{"id":"x","type":"shared","colour":"red"}`, 400},
	{"wrong type", "POST", "/spaces", `{"id":5,"type":"shared"}`, 400},
	{"array for object", "POST", "/spaces", `[]`, 400},
	{"malformed JSON", "POST", "/spaces", `{"id":`, 400},
	{"two values", "POST", "/spaces", `{"id":"x","type":"shared"}{}`, 400},
	{"id with a slash", "POST", "/spaces", `{"id":"a/b","type":"shared"}`, 400},
	{"id ..", "POST", "/spaces", `{"id":"..","type":"shared"}`, 400},
	{"id with a control character", "POST", "/spaces", `{"id":"a\u0001b","type":"shared"}`, 400},
	{"unknown space type", "POST", "/spaces", `{"id":"x","type":"public"}`, 400},
	{"app id with a slash", "POST", "/spaces/pub/apps", `{"id":"a/b","entry":"/x","scope":["/x"]}`, 400},
	{"entry outside scope", "POST", "/spaces/pub/apps", `{"id":"y","entry":"/x","scope":["/z/*"]}`, 400},
	{"scope of wrong type", "POST", "/spaces/pub/apps", `{"id":"y","entry":"/x","scope":"/x"}`, 400},
	{"enabled as a string", "PUT", "/apps/market/anonymous-access", `{"enabled":"yes"}`, 400},
	{"enabled missing", "PUT", "/apps/market/anonymous-access", `{}`, 400},
	{"grant misspelt", "PUT", "/roles/user-default", `{"public_link_creation":"allow"}`, 400},
	{"role name with a slash", "POST", "/roles", `{"name":"a/b","public_link_creation":"allowed"}`, 400},
	{"built-in role name", "POST", "/roles", `{"name":"User Default","public_link_creation":"allowed"}`, 400},
	{"unknown role assigned", "PUT", "/users/bob/roles", `{"roles":["Nobody"]}`, 400},
	{"space role misspelt", "PUT", "/spaces/pub/members/bob", `{"role":"manager"}`, 400},
	{"user id with an encoded slash", "PUT", "/users/a%2Fb/roles", `{"roles":[]}`, 400},
	{"user id with encoded dots", "PUT", "/users/%2e%2e/roles", `{"roles":[]}`, 400},
	{"user id with a control character", "PUT", "/spaces/pub/members/a%01b", `{"role":"can_view"}`, 400},
	{"user id with a space", "PUT", "/spaces/pub/members/a%20b", `{"role":"can_view"}`, 400},
	{"space id upper-case", "GET", "/spaces/PUB/members", ``, 400},
	{"huge body", "POST", "/spaces", `{"id":"x","type":"shared","name":"` + strings.Repeat("n", 70<<10) + `"}`, 413},
	{"body on reset", "POST", "/apps/market/anonymous-access/reset-code", `{"force":true}`, 400},
	{"unknown endpoint", "GET", "/apps", ``, 404},
	{"wrong method", "DELETE", "/roles", ``, 405},
}
