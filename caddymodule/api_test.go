package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

func TestAPIRoutes(t *testing.T) {
	mux := (&Handler{Prefix: "/_anon"}).apiMux()
	for _, tc := range []struct {
		method, path, want string // want: the pattern, or "405 <allow>", or "404"
	}{
		{"GET", "/me", "GET /_anon/api/v1/me"},
		{"HEAD", "/me", "GET /_anon/api/v1/me"},
		{"PUT", "/roles/user-default", "PUT /_anon/api/v1/roles/user-default"},
		{"PUT", "/roles/Publishers", "PUT /_anon/api/v1/roles/{role}"},
		{"DELETE", "/spaces/pub/members/bob", "DELETE /_anon/api/v1/spaces/{space}/members/{user}"},
		{"POST", "/apps/m/anonymous-access/reset-code", "POST /_anon/api/v1/apps/{app}/anonymous-access/reset-code"},
		{"DELETE", "/roles", "405 GET, HEAD, POST"},
		{"POST", "/apps/m", "405 DELETE, GET, HEAD, PUT"},
		{"GET", "/apps", "404"},
		{"GET", "/apps/m/", "404"},
		{"GET", "/apps/m/link/x", "404"},
	} {
		r := httptest.NewRequest(tc.method, "/_anon/api/v1"+tc.path, nil)
		w := httptest.NewRecorder()
		got := "404"
		switch err := unrouted(mux, w, r); err {
		case nil:
			_, got = mux.Handler(r)
		case errMethod:
			got = "405 " + w.Header().Get("Allow")
		}
		if got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestCrossSite(t *testing.T) {
	for _, tc := range []struct {
		method string
		hdr    map[string]string
		want   bool
	}{
		{"POST", nil, false},
		{"POST", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://gw.example"}, false},
		{"PUT", map[string]string{"Sec-Fetch-Site": "none"}, false},
		{"POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
		{"DELETE", map[string]string{"Sec-Fetch-Site": "same-site"}, true},
		{"POST", map[string]string{"Origin": "http://evil.example"}, true},
		{"POST", map[string]string{"Origin": "null"}, true},
		{"GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, false},
	} {
		r := httptest.NewRequest(tc.method, "http://gw.example/_anon/api/v1/me", nil)
		for k, v := range tc.hdr {
			r.Header.Set(k, v)
		}
		if got := crossSite(r); got != tc.want {
			t.Errorf("%s %v: cross-site %v, want %v", tc.method, tc.hdr, got, tc.want)
		}
	}
}

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{policy.ErrUnauthenticated, 401},
		{fmt.Errorf("wrapped: %w", policy.ErrUnauthenticated), 401},
		{policy.ErrForbidden, 403},
		{policy.ErrUnknownApp, 404},
		{policy.ErrUnknownRole, 404},
		{policy.ErrNotMember, 404},
		{policy.ErrAppExists, 409},
		{policy.ErrProvisioned, 409},
		{policy.ErrOwner, 409},
		{policy.ErrOff, 409},
		{policy.ErrStoreUnavailable, 503},
		{errAPIBodyTooLarge, 413},
		{errNotJSON, 415},
		{&policy.InvalidError{Field: "id", Reason: "bad"}, 400},
		{errUnexpectedBody, 400},
		{errors.New("disk on fire"), 500},
	} {
		if got := statusOf(tc.err); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.want)
		}
	}
	w := httptest.NewRecorder()
	writeAPIError(w, http.StatusInternalServerError, errors.New("secret detail"))
	if strings.Contains(w.Body.String(), "secret detail") || !strings.Contains(w.Body.String(), `"error":"internal"`) {
		t.Fatalf("internal error body: %s", w.Body)
	}
}

func TestBadJSONNamesTheField(t *testing.T) {
	for body, want := range map[string]string{
		`{"id":5}`:          "id: must be a JSON string",
		`{"id":"x","x":1}`:  `body: unknown field "x"`,
		`{"id":`:            "body: malformed JSON",
		``:                  "body: a JSON object is required",
		`{"roles":"admin"}`: "roles: must be a JSON array",
	} {
		var v struct {
			ID    string   `json:"id"`
			Roles []string `json:"roles"`
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json; charset=utf-8")
		a := &apiRequest{w: httptest.NewRecorder(), r: r}
		err := a.decode(&v)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// TestAPIViewsSayWhatCallerMay checks that the management API tells a
// user interface what the caller may do rather than leaving it to work
// out: spaces carry "can", apps "can" and "can_when_on", audit entries a
// "label" besides their fields.
func TestAPIViewsSayWhatCallerMay(t *testing.T) {
	f := newHandler(t, 10, func(h *Handler) {
		h.Identity = &Identity{Type: "header", Header: "Remote-User"}
		h.TenantAdmins = []string{"alice"}
		h.Spaces[0].Owner = "olivia"
	})
	call := func(user, method, path, body string) any {
		t.Helper()
		r := httptest.NewRequest(method, "/_anon/api/v1"+path, strings.NewReader(body))
		r.Header.Set("Remote-User", user)
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := f.serve(r)
		if w.Code/100 != 2 {
			t.Fatalf("%s %s %s: %d %s", user, method, path, w.Code, w.Body)
		}
		var v any
		if w.Code != http.StatusNoContent {
			if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
				t.Fatalf("%s %s %s: %v: %s", user, method, path, err, w.Body)
			}
		}
		return v
	}
	// flags renders a "can"-like object as "name:true name:false …".
	flags := func(v any) string {
		m, _ := v.(map[string]any)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = fmt.Sprintf("%s:%v", k, m[k])
		}
		return strings.Join(out, " ")
	}
	call("olivia", "PUT", "/spaces/stats/members/dora", `{"role":"can_view"}`)
	allowEveryone := func() { call("alice", "PUT", "/roles/user-default", `{"public_link_creation":"allowed"}`) }
	turnOff := func() { call("olivia", "PUT", "/apps/market/anonymous-access", `{"enabled":false}`) }

	for _, tc := range []struct {
		before                func() // a change made before the row's step
		step, user            string
		space, app, appWhenOn string
	}{
		{step: "on, no Public link creation", user: "olivia",
			space:     "manage_members:true publish_app:true see_anonymous_member:true set_anonymous_access:false",
			app:       "copy_embed_code:false copy_link:true edit_app:false reset_code:false set_anonymous_access:false",
			appWhenOn: "copy_embed_code:false copy_link:true"},
		{step: "on, no Public link creation", user: "dora",
			space:     "manage_members:false publish_app:false see_anonymous_member:false set_anonymous_access:false",
			app:       "copy_embed_code:false copy_link:true edit_app:false reset_code:false set_anonymous_access:false",
			appWhenOn: "copy_embed_code:false copy_link:true"},
		{before: allowEveryone, step: "Public link creation allowed", user: "olivia",
			space:     "manage_members:true publish_app:true see_anonymous_member:true set_anonymous_access:true",
			app:       "copy_embed_code:true copy_link:true edit_app:false reset_code:true set_anonymous_access:true",
			appWhenOn: "copy_embed_code:true copy_link:true"},
		{before: turnOff, step: "off", user: "olivia",
			space:     "manage_members:true publish_app:true see_anonymous_member:true set_anonymous_access:true",
			app:       "copy_embed_code:false copy_link:false edit_app:false reset_code:true set_anonymous_access:true",
			appWhenOn: "copy_embed_code:true copy_link:true"},
		{step: "off", user: "dora",
			space:     "manage_members:false publish_app:false see_anonymous_member:false set_anonymous_access:false",
			app:       "copy_embed_code:false copy_link:false edit_app:false reset_code:false set_anonymous_access:false",
			appWhenOn: "copy_embed_code:false copy_link:true"},
	} {
		if tc.before != nil {
			tc.before()
		}
		spaces, _ := call(tc.user, "GET", "/spaces", "").([]any)
		if len(spaces) != 1 {
			t.Fatalf("%s, %s: spaces %v", tc.step, tc.user, spaces)
		}
		sp := spaces[0].(map[string]any)
		listed := sp["apps"].([]any)[0].(map[string]any)
		app, _ := call(tc.user, "GET", "/apps/market", "").(map[string]any)
		for what, got := range map[string][2]string{
			"GET /spaces: can":                   {flags(sp["can"]), tc.space},
			"GET /spaces: the app's can":         {flags(listed["can"]), tc.app},
			"GET /spaces: the app's can_when_on": {flags(listed["can_when_on"]), tc.appWhenOn},
			"GET /apps/market: can":              {flags(app["can"]), tc.app},
			"GET /apps/market: can_when_on":      {flags(app["can_when_on"]), tc.appWhenOn},
		} {
			if got[0] != got[1] {
				t.Errorf("%s, %s, %s:\n got %s\nwant %s", tc.step, tc.user, what, got[0], got[1])
			}
		}
	}

	entries := call("alice", "GET", "/audit", "").(map[string]any)["entries"].([]any)
	var got []string
	for _, e := range entries {
		e := e.(map[string]any)
		for _, k := range []string{"id", "time", "actor", "action", "value", "label"} {
			if _, ok := e[k]; !ok {
				t.Errorf("audit entry without %q: %v", k, e)
			}
		}
		got = append(got, fmt.Sprintf("%s %s: %s", e["actor"], e["action"], e["label"]))
	}
	want := []string{
		"olivia set_anonymous_access: Set anonymous access",
		"alice set_public_link_creation: Set Public link creation",
		"olivia set_member: Set a member",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit log, newest first:\n got %q\nwant %q", got, want)
	}
}

// TestChangesAreRateLimitedPerUser checks the management API's answer to a
// user past policy.ChangesPerMinute: 429 with Retry-After, nothing
// changed, reads still served, other users unaffected.
func TestChangesAreRateLimitedPerUser(t *testing.T) {
	f := newHandler(t, 10, func(h *Handler) { h.Identity = &Identity{Type: "header", Header: "Remote-User"} })
	call := func(user, method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/_anon/api/v1"+path, strings.NewReader(body))
		r.Header.Set("Remote-User", user)
		r.Header.Set("Content-Type", "application/json")
		return f.serve(r)
	}
	for i := range policy.ChangesPerMinute {
		if w := call("eve", "POST", "/spaces", fmt.Sprintf(`{"id":"spam%d","type":"personal"}`, i)); w.Code != http.StatusCreated {
			t.Fatalf("change %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := call("eve", "POST", "/spaces", `{"id":"onemore","type":"personal"}`)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"too_many_requests"`) {
		t.Fatalf("one change too many: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if w := call("eve", "GET", "/me", ""); w.Code != http.StatusOK {
		t.Fatalf("a read past the limit: %d %s", w.Code, w.Body)
	}
	if w := call("bob", "POST", "/spaces", `{"id":"bobs","type":"personal"}`); w.Code != http.StatusCreated {
		t.Fatalf("another user: %d %s", w.Code, w.Body)
	}
}
