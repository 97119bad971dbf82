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
// the next handler: as a browser sends it, and with 64 forged session
// cookies in front of the real one (under made-up app names, and one
// under the app's own name, whose forged signature is all that is
// checked), which must cost at most about twice as much.
func BenchmarkServeProtected(b *testing.B) {
	t := &testing.T{}
	f := newHandler(t, 1000, func(h *Handler) {
		h.Apps = append(h.Apps, AppConfig{ID: "sales", Space: "stats", Entry: "/s/index.html", Scope: []string{"/s/*"}, Anonymous: true})
	})
	f.h.logger = zap.NewNop()
	c := f.open(t, url.Values{"code": {f.code(t)}})
	var forged strings.Builder
	for i := range 63 {
		fmt.Fprintf(&forged, "%sapp%d=%s; ", cookiePrefix, i, c.Value[:len(c.Value)-4]+"AAAA")
	}
	fmt.Fprintf(&forged, "%ssales=%s; ", cookiePrefix, c.Value[:len(c.Value)-4]+"AAAA")
	next := nopHandler{}
	for name, cookie := range map[string]string{
		"one-cookie":        "theme=dark; " + c.Name + "=" + c.Value,
		"64-forged-cookies": forged.String() + c.Name + "=" + c.Value,
	} {
		b.Run(name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/d/market.html", nil)
			b.ReportAllocs()
			for b.Loop() {
				r.Header = http.Header{"Cookie": {cookie}}
				w := httptest.NewRecorder()
				if err := f.h.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
					b.Fatal(w.Code, err)
				}
			}
		})
	}
}

type nopHandler struct{}

func (nopHandler) ServeHTTP(http.ResponseWriter, *http.Request) error { return nil }
