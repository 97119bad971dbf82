//go:build unix

package e2e

// An embed code pasted into another site's page works under third-party
// cookie blocking, and only on sites the app allows.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// TestBrowserEmbedOnAnotherSite pastes the embed code into a page of
// another site: under Chromium's default third-party cookie blocking the
// iframe starts a partitioned session and shows the app, and a site not
// allowed by the app's frame-ancestors gets nothing.
func TestBrowserEmbedOnAnotherSite(t *testing.T) {
	allowed, allowedPort := embedderSite(t)
	refused, _ := embedderSite(t)
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{ExtraEmbedOrigins: fmt.Sprintf(" http://localhost:%d", allowedPort)})
	html := g.embedCode(t, "market")
	allowed.set(html)
	refused.set(html)
	// Third-party cookies blocked, as Chromium is phasing them out: only a
	// partitioned cookie works in the iframe.
	tab := newBrowser(t, chromedp.Flag("test-third-party-cookie-phaseout", true))
	browse(t, tab, "the embedding page on an allowed site",
		chromedp.Navigate(allowed.url),
		chromedp.WaitVisible("iframe", chromedp.ByQuery))
	waitUntil(t, time.Now().Add(15*time.Second), "the iframe loads the app with its session", func() (bool, string) {
		return be.sawIframe(marketEntry), fmt.Sprintf("%d backend requests", be.count())
	})
	browse(t, iframeTab(t, tab), "the iframe shows the app's entry", waitText("backend GET "+marketEntry))
	screenshot(t, tab, "embed")
	var cookies []*network.Cookie
	browse(t, tab, "reading the browser's cookies", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = storage.GetCookies().Do(ctx)
		return err
	}))
	var partitioned bool
	for _, c := range cookies {
		if c.Name == cookiePrefix+"market" {
			partitioned = c.PartitionKey != nil && strings.HasPrefix(c.PartitionKey.TopLevelSite, "http://localhost")
			if !partitioned || c.SameSite != network.CookieSameSiteNone || !c.Secure || !c.HTTPOnly {
				t.Fatalf("the embed's session cookie: %+v (partition %+v)", c, c.PartitionKey)
			}
		}
	}
	if !partitioned {
		t.Fatalf("no session cookie partitioned under the embedding site among %d cookies", len(cookies))
	}
	if n := g.capacity(t).Active; n != 1 {
		t.Fatalf("live sessions after the embed: %d", n)
	}

	other := newBrowser(t)
	browse(t, other, "the embedding page on a site the app does not allow",
		chromedp.Navigate(refused.url),
		chromedp.WaitVisible("iframe", chromedp.ByQuery),
		waitJS(`document.title === 'framed'`, 10*time.Second))
	frameURL := location(t, iframeTab(t, other))
	if !strings.HasPrefix(frameURL, "chrome-error://") {
		t.Fatalf("the refused site's iframe shows %q, want Chromium's blocked-frame page", frameURL)
	}
	if n := g.capacity(t).Active; n != 1 {
		t.Fatalf("the refused site started a session: %d live", n)
	}
}

// embedder is a page on another site that holds an embed code.
type embedder struct {
	url  string
	html chan string
	page string
}

func (e *embedder) set(code string) {
	e.page = `<!doctype html><title>embedder</title><h1>Our site</h1>` +
		strings.Replace(code, "<iframe ", `<iframe onload="document.title='framed'" `, 1)
}

// embedderSite serves a page at http://localhost:<port>/, which is another
// site than the gateway's 127.0.0.1.
func embedderSite(t *testing.T) (*embedder, int) {
	t.Helper()
	port := freePort(t)
	e := &embedder{url: fmt.Sprintf("http://localhost:%d/", port)}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, e.page)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return e, port
}
