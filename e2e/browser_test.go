//go:build unix

package e2e

// Browser tests drive Debian's headless Chromium with chromedp. Each
// browser a test starts has a fresh profile of its own, like a private
// window (its own cookies and storage). Screenshots go to
// $SCREENSHOT_DIR, or .ci/artifacts/screenshots in the repository, where
// CI keeps them; the README's images are refreshed from the repository
// root with SCREENSHOT_DIR=$PWD/docs/screenshots go -C e2e test -run
// TestBrowser ./

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds the browser: $CHROMIUM, else chromium on the PATH.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium for t at 1280×800, with extra
// options if given, and returns the context of its first tab. A tab that
// must share no cookies or storage with another, like a private window,
// is a browser of its own: headless Chromium here refuses to open a tab in
// a second browser context ("no browser is open"), and a process with its
// own profile is as fresh. Without Chromium the test is skipped, except
// under CI, where .ci/run installs it and its absence is a failure.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (apt-get install -y chromium)")
		}
		t.Skip("chromium is not installed (apt-get install -y chromium)")
	}
	// The profile is not a t.TempDir: Chromium's helper processes may
	// still write to it while the test's cleanup removes it.
	profile, err := os.MkdirTemp("", "anon-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
		chromedp.Env("HOME=" + profile),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// chromedp v0.14 does not know some events of this Chromium (the top
	// layer of a modal <dialog>) and reports each as an error; they are
	// harmless, and everything else is kept.
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "unhandled node event") {
			t.Logf("chromedp: %s", msg)
		}
	}))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		_ = os.RemoveAll(profile)
	})
	// Start the browser now, so that a test's first step is not billed
	// for it.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// browse runs actions in a tab, failing the test with the page's address
// and text when one fails or a minute passes.
func browse(t *testing.T, tab context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var url, text string
		dctx, dcancel := context.WithTimeout(tab, 3*time.Second)
		defer dcancel()
		_ = chromedp.Run(dctx, chromedp.Location(&url), chromedp.Evaluate(`document.body ? document.body.innerText : ""`, &text))
		if len(text) > 2000 {
			text = text[:2000]
		}
		t.Fatalf("%s: %v\npage %s:\n%s", what, err, url, text)
	}
}

// waitText waits until the page's visible text contains want, across
// navigations (the landing page replaces itself with the entry).
func waitText(want string) chromedp.Action {
	return waitTextWithin(want, 15*time.Second)
}

// waitTextWithin is waitText with a timeout of its own.
func waitTextWithin(want string, timeout time.Duration) chromedp.Action {
	return waitJS(`document.body !== null && document.body.innerText.includes(`+js(want)+`)`, timeout)
}

// waitJS evaluates cond every 50 ms until it is true or timeout passes.
// An evaluation interrupted by a navigation is tried again.
func waitJS(cond string, timeout time.Duration) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		deadline := time.Now().Add(timeout)
		for {
			var ok bool
			err := chromedp.Evaluate(cond, &ok).Do(ctx)
			if err == nil && ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("still not so after %v: %s (last error: %v)", timeout, cond, err)
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// screenshotDir is where screenshots are saved.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(pluginRoot, ".ci", "artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the tab's viewport as <name>.png.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	var png []byte
	browse(t, tab, "screenshot "+name, chromedp.CaptureScreenshot(&png))
	path := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// pageText returns the visible text of the tab's page.
func pageText(t *testing.T, tab context.Context) string {
	t.Helper()
	var text string
	browse(t, tab, "reading the page", chromedp.Evaluate(`document.body.innerText`, &text))
	return strings.TrimSpace(text)
}

// iframeTab attaches to the tab's cross-site iframe, which runs in a
// process of its own: its page cannot be read from the embedding page.
// The attachment lasts until the test ends; ending it earlier would close
// the frame.
func iframeTab(t *testing.T, tab context.Context) context.Context {
	t.Helper()
	targets, err := chromedp.Targets(tab)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if tg.Type == "iframe" {
			frame, cancel := chromedp.NewContext(tab, chromedp.WithTargetID(tg.TargetID))
			t.Cleanup(cancel)
			return frame
		}
	}
	t.Fatal("the page has no cross-site iframe")
	return nil
}

// location is the address of the document in a tab or frame.
func location(t *testing.T, tab context.Context) string {
	t.Helper()
	var loc string
	browse(t, tab, "reading the address", chromedp.Evaluate(`location.href`, &loc))
	return loc
}
