package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestRedemptionsOnlyFromOurPageOrANavigation checks Fetch Metadata: another
// site's page cannot redeem a code in the viewer's browser, by form or by
// pulling the link as an image or a fetch.
func TestRedemptionsOnlyFromOurPageOrANavigation(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		hdr          map[string]string
		status       int
	}{
		{"our landing page", "POST", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "empty"}, 303},
		{"a script without fetch metadata", "POST", nil, 303},
		{"a form on another site", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "document"}, 403},
		{"a form on a sibling subdomain", "POST", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"a link followed from another site", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "document"}, 303},
		{"an embed iframe", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "iframe"}, 303},
		{"curl", "GET", nil, 303},
		{"an img tag on another site", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}, 403},
		{"a fetch from another site", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "empty"}, 403},
		{"a script tag", "GET", map[string]string{"Sec-Fetch-Dest": "script"}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newHandler(t, 10)
			code := f.code(t)
			var r *http.Request
			if tc.method == "POST" {
				r = httptest.NewRequest("POST", "/_anon/open/market", strings.NewReader(url.Values{"code": {code}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = httptest.NewRequest("GET", "/_anon/open/market?code="+code, nil)
			}
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			w := f.serve(r)
			if w.Code != tc.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.status)
			}
			if tc.status == 403 {
				var body struct{ Error string }
				if json.Unmarshal(w.Body.Bytes(), &body); body.Error != "cross_site" || len(w.Result().Cookies()) != 0 {
					t.Fatalf("refusal %s with cookies %v", w.Body, w.Result().Cookies())
				}
				if u, _ := f.h.tenant.tenant.Capacity(r.Context()); u.Active != 0 {
					t.Fatalf("a refused redemption holds %d sessions", u.Active)
				}
			}
		})
	}
}
