//go:build unix

package e2e

// The real upstream behind reverse_proxy, recording what reaches it.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// seenRequest is one request as the backend received it.
type seenRequest struct {
	Method     string
	RequestURI string
	Path       string
	RawQuery   string
	Header     http.Header
	Body       string
}

// backend is the real upstream behind reverse_proxy. It records every
// request and answers "backend <method> <path>".
type backend struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newBackend(t *testing.T) *backend { return startBackend(t, answerPlain) }

// answerPlain is the backend's usual answer: "backend <method> <path>".
func answerPlain(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "backend %s %s", r.Method, r.URL.Path)
}

// startBackend starts a backend that records every request and then
// answers it with answer.
func startBackend(t *testing.T, answer http.HandlerFunc) *backend {
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Recorded on arrival, so that a request whose body never
		// completes still counts as having reached the backend.
		b.mu.Lock()
		i := len(b.seen)
		b.seen = append(b.seen, seenRequest{
			Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Header: r.Header.Clone(),
		})
		b.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.seen[i].Body = string(body)
		b.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) addr() string { return strings.TrimPrefix(b.srv.URL, "http://") }

func (b *backend) requests() []seenRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seenRequest(nil), b.seen...)
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

func (b *backend) last(t *testing.T) seenRequest {
	t.Helper()
	all := b.requests()
	if len(all) == 0 {
		t.Fatal("the backend saw no request")
	}
	return all[len(all)-1]
}

// sawIframe reports whether an iframe's page load of path reached the
// backend with an anonymous session.
func (b *backend) sawIframe(path string) bool {
	for _, r := range b.requests() {
		if r.Path == path && r.Header.Get("Sec-Fetch-Dest") == "iframe" && r.Header.Get("X-Anonymous-App") != "" {
			return true
		}
	}
	return false
}
