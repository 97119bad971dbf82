package caddymodule

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkServeRedeem is one link redemption through the handler: form
// parsing, the code check, admission through capacity and the client's
// limit, minting and the 303. Requests come from 2^18 addresses in turn.
func BenchmarkServeRedeem(b *testing.B) {
	t := &testing.T{}
	f := newHandler(t, 100_000_000)
	f.h.logger = zap.NewNop() // as in production: debug lines are off
	body := url.Values{"code": {f.code(t)}}.Encode()
	clients := make([]string, 1<<18)
	for i := range clients {
		clients[i] = fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := httptest.NewRequest("POST", "/_anon/open/market", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r = fromClient(r, clients[i%len(clients)])
		w := httptest.NewRecorder()
		if err := f.h.ServeHTTP(w, r, nil); err != nil || w.Code != http.StatusSeeOther {
			b.Fatal(w.Code, err)
		}
		i++
	}
}

// BenchmarkServeProtected is a protected request with a live session, up to
// the next handler.
func BenchmarkServeProtected(b *testing.B) {
	t := &testing.T{}
	f := newHandler(t, 1000)
	f.h.logger = zap.NewNop()
	c := f.open(t, url.Values{"code": {f.code(t)}})
	next := nopHandler{}
	r := httptest.NewRequest("GET", "/d/market.html", nil)
	b.ReportAllocs()
	for b.Loop() {
		r.Header = http.Header{"Cookie": {"theme=dark; " + c.Name + "=" + c.Value}}
		w := httptest.NewRecorder()
		if err := f.h.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
			b.Fatal(w.Code, err)
		}
	}
}

type nopHandler struct{}

func (nopHandler) ServeHTTP(http.ResponseWriter, *http.Request) error { return nil }
