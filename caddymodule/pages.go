package caddymodule

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

var (
	//go:embed assets/page.css
	pageCSS string
	//go:embed assets/landing.js
	landingJS string
	//go:embed assets/landing.html
	landingHTML string
	//go:embed assets/error.html
	errorHTML string
	//go:embed assets/error.js
	errorJS string
)

// The landing page and error pages carry their script and style inline and
// allow exactly those by hash: no other script, style, image or connection
// can run on a page that handles an access code.
var (
	landingPage []byte
	landingCSP  string
	errorPage   = template.Must(template.New("error").Parse(errorHTML))
	errorCSP    = "default-src 'none'; script-src " + cspHash(errorJS) + "; style-src " + cspHash(pageCSS) + "; base-uri 'none'; form-action 'none'; "
)

func init() {
	landingPage = []byte(strings.NewReplacer("{{CSS}}", pageCSS, "{{JS}}", landingJS).Replace(landingHTML))
	landingCSP = "default-src 'none'; script-src " + cspHash(landingJS) + "; style-src " + cspHash(pageCSS) +
		"; connect-src 'self'; form-action 'self'; base-uri 'none'; "
}

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// writeLanding serves the page behind every app link: the same bytes for
// every app id, so it tells nothing about which apps exist.
func (h *Handler) writeLanding(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", landingCSP+h.tenant.tenant.AppFrameAncestors(r.PathValue("app")))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(landingPage)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(landingPage)
	}
}

// pageText is what a person in a browser reads about a refusal.
type pageText struct {
	Title, Message, Hint string
}

// writePage answers a refusal with an HTML page for browsers and JSON
// {"error": code, "message": text} for everything else. err is a sentinel
// or an InvalidError: it never carries a code, token or session id.
func (h *Handler) writePage(w http.ResponseWriter, r *http.Request, f *refusal, err error, retry int) {
	hdr := w.Header()
	hdr.Del("Content-Security-Policy")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		hdr.Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		if r.Method != http.MethodHead {
			_ = json.NewEncoder(w).Encode(map[string]string{"error": f.code, "message": f.messageOf(err)})
		}
		return
	}
	page := f.page
	if page.Title == "" {
		page = pageText{Title: http.StatusText(f.status), Message: f.messageOf(err)}
	}
	if r.Method != http.MethodGet || (f.status != http.StatusServiceUnavailable && f.status != http.StatusTooManyRequests) {
		retry = 0 // a countdown only reloads a page, which only a GET is
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", errorCSP+h.tenant.tenant.AppFrameAncestors(r.PathValue("app")))
	w.WriteHeader(f.status)
	if r.Method == http.MethodHead {
		return
	}
	_ = errorPage.Execute(w, struct {
		pageText
		CSS template.CSS
		JS  template.JS
		// Retry is the countdown, in seconds, before the page loads
		// itself again, which starts a session once there is room.
		Retry int
		// Restart offers a page load, which starts a new session after
		// the old one expired. A page load that got here already tried,
		// past the renewal window.
		Restart bool
	}{page, template.CSS(pageCSS), template.JS(errorJS), retry, errors.Is(err, policy.ErrExpired) && !isPageLoad(r)})
}
