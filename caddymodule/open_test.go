package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/anonaccess/caddy-anonymous-access/metrics"
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
		{"an iframe of our own origin", "GET", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "iframe"}, 303},
		{"an iframe with the code on another site", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "iframe"}, 403},
		{"a form on another site without fetch metadata", "POST", map[string]string{"Origin": "http://evil.example"}, 403},
		{"an opaque origin", "POST", map[string]string{"Origin": "null"}, 403},
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

// fromClient makes r come from ip, as Caddy's server marks every request
// with its client IP (after trusted_proxies).
func fromClient(r *http.Request, ip string) *http.Request {
	vars := map[string]any{caddyhttp.ClientIPVarKey: ip}
	return r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
}

// redeemFrom posts the market link's code as a script from ip.
func (f *handlerFixture) redeemFrom(t *testing.T, ip string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", "/_anon/open/market", strings.NewReader(url.Values{"code": {f.code(t)}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.serve(fromClient(r, ip))
}

// TestOneClientCannotTakeTheTenant: client_sessions (default 10) live
// sessions per client IP, an IPv6 /64 as one client; the next gets 429
// client_limit with the wait until the client's first session ends.
func TestOneClientCannotTakeTheTenant(t *testing.T) {
	f := newHandler(t, 100)
	rejected := func() float64 {
		return testutil.ToFloat64(metrics.LinksRejected.WithLabelValues(f.h.Tenant, metrics.ReasonClientLimit))
	}
	for _, c := range []struct{ name, ip, neighbour, elsewhere string }{
		{"IPv4", "203.0.113.9", "203.0.113.9", "203.0.113.10"},
		{"IPv6", "2001:db8:5:6::1", "2001:db8:5:6:ffff:1:2:3", "2001:db8:5:7::1"},
	} {
		for i := range 10 {
			if w := f.redeemFrom(t, c.ip); w.Code != http.StatusSeeOther {
				t.Fatalf("%s: redemption %d: %d %s", c.name, i+1, w.Code, w.Body)
			}
			f.clock.Advance(time.Second)
		}
		before := rejected()
		w := f.redeemFrom(t, c.neighbour)
		var body struct{ Error string }
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		// The first session started 10 s ago and ends at 15 min.
		if w.Code != http.StatusTooManyRequests || body.Error != "client_limit" || w.Header().Get("Retry-After") != "890" || len(w.Result().Cookies()) != 0 {
			t.Fatalf("%s: 11th redemption: %d %q %s %v", c.name, w.Code, w.Header().Get("Retry-After"), w.Body, w.Result().Cookies())
		}
		if rejected() != before+1 {
			t.Errorf("%s: links_rejected{reason=client_limit} not counted", c.name)
		}
		if strings.Contains(w.Body.String(), c.ip) || strings.Contains(w.Body.String(), c.neighbour) {
			t.Errorf("%s: the refusal names the address: %s", c.name, w.Body)
		}
		if w := f.redeemFrom(t, c.elsewhere); w.Code != http.StatusSeeOther {
			t.Fatalf("%s: another client: %d %s", c.name, w.Code, w.Body)
		}
	}
	// A person following the link sees a page that counts down and loads
	// itself again.
	r := fromClient(get("/_anon/open/market?code="+f.code(t), nil, "Sec-Fetch-Dest", "document", "Accept", "text/html"), "203.0.113.9")
	w := f.serve(r)
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "Too many open sessions from your network") ||
		!strings.Contains(w.Body.String(), `data-seconds="880"`) {
		t.Fatalf("the page: %d %s", w.Code, w.Body)
	}
	f.clock.Advance(15*time.Minute - 20*time.Second)
	if w := f.redeemFrom(t, "203.0.113.9"); w.Code != http.StatusSeeOther {
		t.Fatalf("once the client's first session ended: %d %s", w.Code, w.Body)
	}
}

// TestClientSessionsZeroIsNoLimit: client_sessions 0 lets one client hold
// any number of sessions.
func TestClientSessionsZeroIsNoLimit(t *testing.T) {
	f := newHandler(t, 100, func(h *Handler) { h.ClientSessions = new(int) })
	for i := range 20 {
		if w := f.redeemFrom(t, "203.0.113.9"); w.Code != http.StatusSeeOther {
			t.Fatalf("redemption %d: %d %s", i+1, w.Code, w.Body)
		}
	}
}
