package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// newDashboardHandler serves one app laid out as a real dashboard is:
// an entry with a query string, read-only but for its query endpoint, and
// a locked filter.
func newDashboardHandler(t *testing.T) *handlerFixture {
	return newHandler(t, 10, func(h *Handler) {
		h.Apps = []AppConfig{{ID: "market", Space: "stats", Name: "Market",
			Entry: "/d/abc/sales?orgId=1&kiosk", Scope: []string{"/d/abc*", "/api/ds/query", "/public/*"},
			Deny:   []string{"/public/secret/*"},
			Allow:  []policy.AllowRule{{Methods: []string{"POST"}, Paths: []string{"/api/ds/query"}}},
			Params: map[string]string{"var-region": "emea", "orgId": "1"}, Anonymous: true}}
	})
}

func TestEntryWithAQueryString(t *testing.T) {
	f := newDashboardHandler(t)
	r := httptest.NewRequest("POST", "/_anon/open/market", strings.NewReader(url.Values{"code": {f.code(t)}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := f.serve(r)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/d/abc/sales?orgId=1&kiosk" {
		t.Fatalf("%d to %q", w.Code, w.Header().Get("Location"))
	}
}

// TestAllowGrantsMethodsOnSomePaths checks that an allow rule opens its
// method on its paths only.
func TestAllowGrantsMethodsOnSomePaths(t *testing.T) {
	f := newDashboardHandler(t)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"POST", "/api/ds/query", 200},
		{"POST", "/d/abc/sales", 405},
		{"DELETE", "/api/ds/query", 405},
		{"GET", "/api/ds/query", 200},
		{"POST", "/api/ds/query2", 403},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader("{}"))
		r.AddCookie(c)
		if w := f.serve(r); w.Code != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, w.Code, tc.status)
		}
	}
}

// TestLockedParamsReachTheBackend checks that whatever a viewer sends
// under a locked name, the backend gets exactly the locked value.
func TestLockedParamsReachTheBackend(t *testing.T) {
	f := newDashboardHandler(t)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	for _, query := range []string{
		"",
		"var-region=us",
		"var-region=us&var-region=apac&from=now-1h",
		"var%2Dregion=us&orgId=2",
		"from=now-6h;var-region=us",
		"var-region",
		"VAR-REGION=us",
		"var-region[]=us&var-region[0]=us&var-region.x=1&+var-region=us",
	} {
		f.serve(get("/d/abc/sales?"+query, c))
		seen := f.seen[len(f.seen)-1].URL
		got, err := url.ParseQuery(seen.RawQuery)
		if err != nil || len(got["var-region"]) != 1 || got.Get("var-region") != "emea" || len(got["orgId"]) != 1 || got.Get("orgId") != "1" {
			t.Errorf("%q reached the backend as %q", query, seen.RawQuery)
		}
		for k := range got {
			if k != "var-region" && strings.Contains(strings.ToLower(k), "var-region") {
				t.Errorf("%q: the backend also got %q", query, k)
			}
		}
		if strings.Contains(query, "from=") && !strings.Contains(seen.RawQuery, "from=now-") {
			t.Errorf("%q: the viewer's own parameter was dropped: %q", query, seen.RawQuery)
		}
	}
}

// TestDoubledSlashesAreMerged checks that a path a single-page dashboard
// builds with "//" is merged, and that the merged path is both what is
// checked and what is forwarded.
func TestDoubledSlashesAreMerged(t *testing.T) {
	f := newDashboardHandler(t)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	for _, tc := range []struct {
		path, forwarded string
		status          int
	}{
		{"//d/abc/sales", "/d/abc/sales", 200},
		{"/public//app.js", "/public/app.js", 200},
		{"/public//secret/key", "", 403},
		{"//public/..//secret/key", "", 400},
		{"/public/%2F/x", "", 400},
	} {
		n := len(f.seen)
		w := f.serve(get(tc.path, c))
		if w.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.path, w.Code, tc.status)
			continue
		}
		if tc.forwarded == "" {
			if len(f.seen) != n {
				t.Errorf("%s reached the backend", tc.path)
			}
			continue
		}
		if got := f.seen[len(f.seen)-1].URL.Path; got != tc.forwarded {
			t.Errorf("%s forwarded as %s", tc.path, got)
		}
	}
}

// TestLockedParamsHoldInFormBodies checks that a locked parameter cannot be
// sent in a form body instead, which most backends read first.
func TestLockedParamsHoldInFormBodies(t *testing.T) {
	f := newDashboardHandler(t)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	r := httptest.NewRequest("POST", "/api/ds/query?var-region=us", strings.NewReader("var-region=apac&q=sum&var%2Dregion=x"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(c)
	if w := f.serve(r); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	up := f.seen[len(f.seen)-1]
	if err := up.ParseForm(); err != nil {
		t.Fatal(err)
	}
	if got := up.Form["var-region"]; len(got) != 2 || got[0] != "emea" || got[1] != "emea" || up.PostForm.Get("q") != "sum" {
		t.Fatalf("the backend read var-region %q (post form %q)", got, up.PostForm)
	}
}
