package caddymodule

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
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
	errorCSP    = "default-src 'none'; script-src " + cspHash(errorJS) + "; style-src " + cspHash(pageCSS) + "; base-uri 'none'; form-action 'none'; frame-ancestors "
)

func init() {
	landingPage = []byte(strings.NewReplacer("{{CSS}}", pageCSS, "{{JS}}", landingJS).Replace(landingHTML))
	landingCSP = "default-src 'none'; script-src " + cspHash(landingJS) + "; style-src " + cspHash(pageCSS) +
		"; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors "
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
	hdr.Set("Content-Security-Policy", landingCSP+h.tenant.tenant.AllFrameAncestors())
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(landingPage)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(landingPage)
	}
}

type pageText struct {
	Title, Message, Hint string
}

// pageFor words an error for a person in a browser.
func pageFor(status int, err error) pageText {
	switch err {
	case policy.ErrDenied:
		return pageText{"This link is not valid", "The link may have been turned off, or replaced by a new one.", "Ask the person who shared it for a current link."}
	case policy.ErrCapacityFull:
		return pageText{"Too many viewers right now", "This content has reached its limit of simultaneous anonymous viewers.", "Please try again in a little while."}
	case policy.ErrRateLimited:
		return pageText{"Too many attempts", "There were too many attempts with invalid links from your network.", "Please wait a moment before trying again."}
	case policy.ErrRevoked:
		return pageText{"This link is no longer valid", "Sharing of this content was turned off, or its link was replaced.", "Ask the person who shared it for a current link."}
	case policy.ErrExpired:
		return pageText{"Your session has ended", "Anonymous sessions last a limited time.", "Open the shared link again to continue."}
	case policy.ErrNoSession:
		return pageText{"Open the shared link first", "This page is only available through a shared link.", "Open the link you were given to view it."}
	case policy.ErrStoreUnavailable:
		return pageText{"Temporarily unavailable", "Shared content cannot be opened right now.", "Please try again in a few seconds."}
	case policy.ErrOutOfScope:
		return pageText{"Not shared", "This page is not part of the content that was shared with you.", ""}
	}
	return pageText{http.StatusText(status), err.Error(), ""}
}

// retryOf is the Retry-After of a capacity or rate refusal of a GET, for
// the error page's countdown.
func retryOf(w http.ResponseWriter, r *http.Request, status int) int {
	if r.Method != http.MethodGet || (status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests) {
		return 0
	}
	n, _ := strconv.Atoi(w.Header().Get("Retry-After"))
	return n
}

// writeError answers with an HTML page for browsers and JSON
// {"error": "..."} for everything else. err is always a sentinel: it never
// carries a code, token or session id.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, status int, err error) {
	hdr := w.Header()
	hdr.Del("Content-Security-Policy")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("Content-Security-Policy", errorCSP+h.tenant.tenant.AllFrameAncestors())
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_ = errorPage.Execute(w, struct {
				pageText
				CSS template.CSS
				JS  template.JS
				// Retry is the countdown, in seconds, before the page
				// loads itself again; only for a page load (a GET),
				// which starts a session once there is room.
				Retry int
				// Restart offers a page load, which starts a new
				// session after the old one expired. A page load that
				// got here already tried, past the renewal window.
				Restart bool
			}{pageFor(status, err), template.CSS(pageCSS), template.JS(errorJS), retryOf(w, r, status), err == policy.ErrExpired && !isPageLoad(r)})
		}
		return
	}
	hdr.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
	}
}
