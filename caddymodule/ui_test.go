package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestUIRoutes(t *testing.T) {
	f := newHandler(t, 10)
	tests := []struct {
		name, method, path string
		status             int
		ctype              string
		location           string
		cache              string
		body               string
	}{
		{name: "no slash redirects", method: "GET", path: "/_anon/ui", status: 301, location: "/_anon/ui/"},
		{name: "page", method: "GET", path: "/_anon/ui/", status: 200, ctype: "text/html; charset=utf-8", cache: "no-store",
			body: `<meta name="anonymous-access-identity" content="none">`},
		{name: "page by name", method: "GET", path: "/_anon/ui/index.html", status: 200, ctype: "text/html; charset=utf-8", cache: "no-store"},
		{name: "head of page", method: "HEAD", path: "/_anon/ui/", status: 200, ctype: "text/html; charset=utf-8"},
		{name: "script", method: "GET", path: "/_anon/ui/main.js", status: 200, ctype: "text/javascript; charset=utf-8", cache: "no-cache",
			body: "import "},
		{name: "stylesheet", method: "GET", path: "/_anon/ui/ui.css", status: 200, ctype: "text/css; charset=utf-8", cache: "no-cache"},
		{name: "unknown file", method: "GET", path: "/_anon/ui/nope.js", status: 404},
		{name: "no subdirectories", method: "GET", path: "/_anon/ui/ui/ui.css", status: 404},
		{name: "no way out", method: "GET", path: "/_anon/ui/../ui.go", status: 400},
		{name: "not a prefix match", method: "GET", path: "/_anon/uix", status: 404},
		{name: "post", method: "POST", path: "/_anon/ui/", status: 405},
		{name: "put asset", method: "PUT", path: "/_anon/ui/ui.css", status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://share.example.com/", nil)
			r.URL.Path = tt.path // as sent, not cleaned
			w := f.serve(r)
			if w.Code != tt.status {
				t.Fatalf("%s %s: status %d, want %d: %s", tt.method, tt.path, w.Code, tt.status, w.Body)
			}
			hdr := w.Header()
			if tt.location != "" && hdr.Get("Location") != tt.location {
				t.Errorf("Location = %q, want %q", hdr.Get("Location"), tt.location)
			}
			if tt.status == 405 && hdr.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", hdr.Get("Allow"))
			}
			if tt.status != 200 {
				return
			}
			if got := hdr.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", got, tt.ctype)
			}
			if got := hdr.Get("Content-Security-Policy"); got != uiCSP {
				t.Errorf("Content-Security-Policy = %q", got)
			}
			if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("missing nosniff or no-referrer: %v", hdr)
			}
			if tt.cache != "" && hdr.Get("Cache-Control") != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", hdr.Get("Cache-Control"), tt.cache)
			}
			if tt.method == "HEAD" && w.Body.Len() != 0 {
				t.Errorf("HEAD has a body of %d bytes", w.Body.Len())
			}
			if !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("body does not contain %q", tt.body)
			}
		})
	}
}

// TestUIPageSettings checks the page is told the identity type and the
// API's path under the handler's prefix.
func TestUIPageSettings(t *testing.T) {
	f := newHandler(t, 10)
	f.h.Prefix = "/share"
	f.h.Identity = &Identity{Type: "jwt"}
	f.h.gateway, f.h.api = f.h.gatewayMux(), f.h.apiMux()
	w := f.serve(httptest.NewRequest("GET", "http://share.example.com/share/ui/", nil))
	body := w.Body.String()
	for _, want := range []string{
		`<meta name="anonymous-access-identity" content="jwt">`,
		`<meta name="anonymous-access-api" content="/share/api/v1">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	w = f.serve(httptest.NewRequest("GET", "http://share.example.com/share/ui", nil))
	if w.Code != 301 || w.Header().Get("Location") != "/share/ui/" {
		t.Errorf("redirect: %d to %q", w.Code, w.Header().Get("Location"))
	}
}

// TestUIRevalidation checks an unchanged asset costs a 304.
func TestUIRevalidation(t *testing.T) {
	f := newHandler(t, 10)
	w := f.serve(httptest.NewRequest("GET", "http://share.example.com/_anon/ui/api.js", nil))
	etag := w.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	r := httptest.NewRequest("GET", "http://share.example.com/_anon/ui/api.js", nil)
	r.Header.Set("If-None-Match", etag)
	if w := f.serve(r); w.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", w.Code)
	}
}

// TestUIFilesKeepToTheirCSP checks the files for what the CSP would block
// (inline script or style, event handler attributes) or what would leak
// (logging, HTML built from strings), and that every file the page and
// its scripts load is served.
func TestUIFilesKeepToTheirCSP(t *testing.T) {
	index, err := uiFiles.ReadFile("ui/index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(index)
	for _, re := range []string{`<script[^>]*>\s*[^<\s]`, `<style`, `\sstyle=`, `\son[a-z]+=`} {
		if regexp.MustCompile(re).MatchString(html) {
			t.Errorf("index.html matches %s: inline code the CSP blocks", re)
		}
	}
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(m, ` src="`) {
			t.Errorf("index.html has an inline script: %s", m)
		}
	}
	loaded := regexp.MustCompile(`(?:src|href)="([a-z.]+\.(?:js|css))"`).FindAllStringSubmatch(html, -1)
	for name, a := range uiAssets {
		text := string(a.body)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "console.", "eval(", "new Function", "localStorage"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
		loaded = append(loaded, regexp.MustCompile(`from '\./([a-z]+\.js)'`).FindAllStringSubmatch(text, -1)...)
	}
	if len(loaded) < 3 {
		t.Fatalf("found only %d loaded files", len(loaded))
	}
	for _, m := range loaded {
		if _, ok := uiAssets[m[1]]; !ok {
			t.Errorf("%s is loaded but not served", m[1])
		}
	}
}
