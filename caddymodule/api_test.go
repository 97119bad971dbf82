package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
