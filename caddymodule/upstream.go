package caddymodule

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// mergeSlashes turns runs of slashes in a path into one ("//api/x" is
// "/api/x"): single-page dashboards build such paths from their own
// location. The merged path is what the check decides on and what is
// forwarded. Encoded slashes are left for CheckPath to refuse.
func mergeSlashes(u *url.URL) {
	if !strings.Contains(u.Path, "//") {
		return
	}
	u.Path = merged(u.Path)
	if u.RawPath != "" {
		u.RawPath = merged(u.RawPath)
	}
}

func merged(p string) string {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// dropGatewayHeaders removes every request header a backend could read as
// one of droppedHeaders: the names themselves in any case, and look-alikes
// with '_' for '-' (X_Anonymous_App), which CGI-style backends, PHP and
// some proxies fold into the same variable. Only the gateway's own copy
// of its headers, set after this, goes up.
func dropGatewayHeaders(h http.Header) {
	for name := range h {
		for _, dropped := range droppedHeaders {
			if looksLike(name, dropped) {
				delete(h, name)
				break
			}
		}
	}
}

// droppedHeaders never reach the backend from a client: the gateway's own,
// and those many frameworks read as the request's real method, so an
// anonymous GET never becomes a DELETE upstream.
var droppedHeaders = [...]string{headerApp, headerSession, "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// looksLike reports whether name is header, ignoring case and reading '_'
// as '-'.
func looksLike(name, header string) bool {
	if len(name) != len(header) {
		return false
	}
	for i := 0; i < len(name); i++ {
		a, b := name[i], header[i]
		if a == '_' {
			a = '-'
		}
		if a|0x20 != b|0x20 {
			return false
		}
	}
	return true
}

// privateResponse makes a protected response private before its header
// goes out: content shown to one anonymous session must never be kept by
// a shared cache (a CDN in front of the gateway would otherwise serve it
// to people without a session). The backend's public and s-maxage are
// dropped; its other directives (max-age, no-cache, …) are kept for the
// viewer's own browser.
type privateResponse struct {
	caddyhttp.ResponseWriterWrapper
	done bool
}

func (w *privateResponse) WriteHeader(status int) {
	if !w.done && (status >= 200 || status == http.StatusSwitchingProtocols) {
		w.done = true
		hdr := w.Header()
		hdr.Set("Cache-Control", privateCacheControl(hdr.Values("Cache-Control")))
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

func (w *privateResponse) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.Write(b)
}

// FlushError keeps the header rewrite on a flush before the first write,
// which is how event streams start.
func (w *privateResponse) FlushError() error {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriterWrapper.ResponseWriter).Flush()
}

// ReadFrom keeps the header rewrite on the path io.Copy takes.
func (w *privateResponse) ReadFrom(r io.Reader) (int64, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// privateCacheControl is the backend's Cache-Control with "private" first
// and the directives meant for shared caches left out.
func privateCacheControl(values []string) string {
	var b strings.Builder
	b.WriteString("private")
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.TrimSpace(d)
			name, _, _ := strings.Cut(d, "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "", "private", "public", "s-maxage":
				continue
			}
			b.WriteString(", ")
			b.WriteString(d)
		}
	}
	return b.String()
}
