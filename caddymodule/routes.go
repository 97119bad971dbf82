package caddymodule

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// validPrefix is what a prefix may be: a clean absolute path whose
// segments hold no character a ServeMux pattern or a URL would read
// differently.
var validPrefix = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

// gatewayMux routes the gateway's own endpoints under the prefix. The
// management API has a mux of its own (apiMux), since its errors are
// always JSON in the API's shape.
func (h *Handler) gatewayMux() *http.ServeMux {
	mux := http.NewServeMux()
	p := h.Prefix
	mux.Handle("GET "+p+"/open/{app}", endpoint(h.serveOpen))
	mux.Handle("POST "+p+"/open/{app}", endpoint(h.serveOpen))
	// The landing page answers below an app id too, the same bytes, so a
	// path tells nothing; no code is redeemed there.
	mux.Handle("GET "+p+"/open/{app}/{rest...}", endpoint(h.serveLandingOnly))
	mux.Handle("POST "+p+"/open/{app}/{rest...}", endpoint(h.serveLandingOnly))
	mux.Handle("GET "+p+"/session", endpoint(h.serveSession))
	mux.Handle("GET "+p+"/healthz", endpoint(h.serveHealth))
	mux.Handle("GET "+p+"/ui/", endpoint(h.serveUI))
	// Relative asset URLs in the page resolve only below the slash.
	mux.Handle("GET "+p+"/ui", http.RedirectHandler(p+"/ui/", http.StatusMovedPermanently))
	mux.HandleFunc(p+"/api/v1/", h.serveAPI)
	return mux
}

// serveGateway serves a request under the prefix. Paths a backend or the
// mux could read as another path are refused before routing, so the
// mux never redirects to a cleaned path.
func (h *Handler) serveGateway(w http.ResponseWriter, r *http.Request) error {
	if err := policy.CheckPath(r.URL.Path, r.URL.RawPath); err != nil {
		if strings.HasPrefix(r.URL.Path, h.Prefix+"/api/") {
			writeAPIError(w, http.StatusBadRequest, err)
			return nil
		}
		return h.refuse(w, r, err)
	}
	if err := unrouted(h.gateway, w, r); err != nil {
		return h.refuse(w, r, err)
	}
	return serveEndpoint(h.gateway, w, r)
}

// unrouted tells whether mux has no endpoint for r: errNotFound, or
// errMethod with the Allow header the mux computed set on w. It returns
// nil when an endpoint (or the mux's own redirect to a trailing slash)
// will serve r.
func unrouted(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) error {
	fallback, pattern := mux.Handler(r)
	if pattern != "" {
		return nil
	}
	rec := headerRecorder{header: http.Header{}}
	fallback.ServeHTTP(&rec, r)
	if rec.status != http.StatusMethodNotAllowed {
		return errNotFound
	}
	w.Header().Set("Allow", rec.header.Get("Allow"))
	return errMethod
}

// headerRecorder keeps the status and headers of the mux's own 404 or
// 405 answer and drops its plain-text body.
type headerRecorder struct {
	header http.Header
	status int
}

func (w *headerRecorder) Header() http.Header         { return w.header }
func (w *headerRecorder) WriteHeader(status int)      { w.status = status }
func (w *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }

// endpointWriter carries an endpoint's error out of the mux, so a refusal
// can still reach Caddy's handle_errors routes.
type endpointWriter struct {
	http.ResponseWriter
	err error
}

// serveEndpoint serves r through mux and returns the error of the endpoint
// that served it.
func serveEndpoint(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) error {
	ew := &endpointWriter{ResponseWriter: w}
	mux.ServeHTTP(ew, r)
	return ew.err
}

// endpoint adapts an endpoint that may return an error to the mux; it is
// only ever served through serveEndpoint.
func endpoint(serve func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ew := w.(*endpointWriter)
		ew.err = serve(ew.ResponseWriter, r)
	})
}
