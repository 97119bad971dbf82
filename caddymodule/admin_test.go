package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// adminCall runs one admin API request and returns the status and body,
// as Caddy's admin server would answer it.
func adminCall(t *testing.T, method, target string) (int, string) {
	t.Helper()
	a := &AdminAPI{}
	w := httptest.NewRecorder()
	err := a.serve(w, httptest.NewRequest(method, target, nil))
	if err != nil {
		var apiErr caddy.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("%s %s: non-API error %v", method, target, err)
		}
		return apiErr.HTTPStatus, apiErr.Err.Error()
	}
	return w.Code, w.Body.String()
}

// TestAdminVerbs walks every operator verb. None of them asks for a tenant
// permission: the admin endpoint is the operator's.
func TestAdminVerbs(t *testing.T) {
	f := newHandler(t, 10)
	tq := "?tenant=" + f.h.Tenant
	oldCode := f.code(t)
	live := f.open(t, map[string][]string{"code": {oldCode}})

	tests := []struct {
		name, method, target string
		status               int
		check                func(t *testing.T, body string)
	}{
		{"apps", "GET", "/anonymous-access/apps" + tq, 200, func(t *testing.T, body string) {
			var apps []map[string]any
			if err := json.Unmarshal([]byte(body), &apps); err != nil || len(apps) != 1 || apps[0]["id"] != "market" ||
				apps[0]["anonymous_access"] != true || apps[0]["provisioned"] != true {
				t.Fatalf("apps %s", body)
			}
			if strings.Contains(body, oldCode) {
				t.Fatal("the apps listing leaks the access code")
			}
		}},
		{"link", "GET", "/anonymous-access/apps/market/link" + tq, 200, func(t *testing.T, body string) {
			if !strings.Contains(body, `"url":"https://share.example.com/_anon/open/market#code=`+oldCode+`"`) {
				t.Fatalf("link %s", body)
			}
		}},
		{"embed code", "GET", "/anonymous-access/apps/market/embed-code" + tq + "&object=/d/market-2.html&width=640", 200, func(t *testing.T, body string) {
			var v struct{ HTML, URL string }
			_ = json.Unmarshal([]byte(body), &v)
			if !strings.HasPrefix(v.HTML, "<iframe ") || !strings.Contains(v.HTML, `width="640"`) || !strings.HasSuffix(v.URL, "&embed=1&object=%2Fd%2Fmarket-2.html") {
				t.Fatalf("embed code %s", body)
			}
		}},
		{"embed object outside scope", "GET", "/anonymous-access/apps/market/embed-code" + tq + "&object=/x", 400, nil},
		{"capacity", "GET", "/anonymous-access/capacity" + tq, 200, func(t *testing.T, body string) {
			if !strings.Contains(body, `"capacity":10`) || !strings.Contains(body, `"active":1`) || !strings.Contains(body, `"peak":1`) {
				t.Fatalf("capacity %s", body)
			}
		}},
		{"reset code", "POST", "/anonymous-access/apps/market/reset-code" + tq, 200, func(t *testing.T, body string) {
			if got := f.code(t); got == oldCode {
				t.Fatal("the code did not change")
			}
			if w := f.serve(get("/d/market.html", live)); w.Code != 401 {
				t.Fatalf("live session after reset: %d", w.Code)
			}
		}},
		{"disable", "POST", "/anonymous-access/apps/market/disable" + tq, 200, func(t *testing.T, body string) {
			if !strings.Contains(body, `"anonymous_access":false`) {
				t.Fatalf("disable %s", body)
			}
		}},
		{"link while off", "GET", "/anonymous-access/apps/market/link" + tq, 409, nil},
		{"embed code while off", "GET", "/anonymous-access/apps/market/embed-code" + tq, 409, nil},
		{"enable", "POST", "/anonymous-access/apps/market/enable" + tq, 200, func(t *testing.T, body string) {
			if !strings.Contains(body, `"anonymous_access":true`) {
				t.Fatalf("enable %s", body)
			}
		}},
		{"unknown app", "POST", "/anonymous-access/apps/ghost/enable" + tq, 404, nil},
		{"unknown verb", "POST", "/anonymous-access/apps/market/explode" + tq, 404, nil},
		{"unknown route", "GET", "/anonymous-access/everything" + tq, 404, nil},
		{"wrong method", "GET", "/anonymous-access/apps/market/enable" + tq, 405, nil},
		{"wrong method on apps", "DELETE", "/anonymous-access/apps" + tq, 405, nil},
		{"unknown tenant", "GET", "/anonymous-access/apps?tenant=nobody", 404, nil},
	}
	for _, tt := range tests {
		status, body := adminCall(t, tt.method, tt.target)
		if status != tt.status {
			t.Fatalf("%s: status %d (%s), want %d", tt.name, status, body, tt.status)
		}
		if tt.check != nil {
			tt.check(t, body)
		}
	}
}

func TestAdminPicksTheOnlyTenant(t *testing.T) {
	if n := len(runningTenants()); n != 0 {
		t.Skipf("%d tenants left running by other tests", n)
	}
	if status, body := adminCall(t, "GET", "/anonymous-access/apps"); status != 404 || !strings.Contains(body, "no anonymous_access handler is running") {
		t.Fatalf("no tenant: %d %s", status, body)
	}
	newHandler(t, 10)
	if status, _ := adminCall(t, "GET", "/anonymous-access/apps"); status != 200 {
		t.Fatalf("one tenant without ?tenant=: %d", status)
	}
	newHandler(t, 10) // a second tenant (its own state file)
	status, body := adminCall(t, "GET", "/anonymous-access/apps")
	if status != 400 || !strings.Contains(body, "add ?tenant=") {
		t.Fatalf("two tenants without ?tenant=: %d %s", status, body)
	}
}

func TestAdminRoutes(t *testing.T) {
	routes := (&AdminAPI{}).Routes()
	if len(routes) != 1 || routes[0].Pattern != "/anonymous-access/" {
		t.Fatalf("routes %+v", routes)
	}
	if status, _ := adminCall(t, http.MethodGet, "/anonymous-access/apps?tenant=none"); status != 404 {
		t.Fatalf("status %d", status)
	}
	for _, tc := range []struct {
		method, target string
		status         int
		allow          string
	}{
		{"DELETE", "/anonymous-access/apps/market/reset-code", 405, "POST"},
		{"POST", "/anonymous-access/apps", 405, "GET, HEAD"},
		{"GET", "/anonymous-access/apps/market/explode", 404, ""},
		{"GET", "/anonymous-access/nothing", 404, ""},
	} {
		w := httptest.NewRecorder()
		err := (&AdminAPI{}).serve(w, httptest.NewRequest(tc.method, tc.target, nil))
		var apiErr caddy.APIError
		if !errors.As(err, &apiErr) || apiErr.HTTPStatus != tc.status || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %v, Allow %q", tc.method, tc.target, err, w.Header().Get("Allow"))
		}
	}
}
