package caddymodule

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// uiFiles are the tenant users' web UI under {prefix}/ui/: plain HTML, CSS
// and JavaScript modules, served as written, with no build step.
//
//go:embed ui
var uiFiles embed.FS

// uiCSP lets the UI load only its own files and talk only to its own
// origin. No inline script or style is allowed anywhere in it, so a string
// that reaches the page from the API can never run; and it cannot be framed,
// since it holds a bearer token and shows access codes.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiTypes are the only kinds of file the UI serves; a file of another kind
// in ui/ is not served at all. JavaScript must be a JavaScript type: the
// browser refuses module scripts of any other.
var uiTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

var errUIUnavailable = errors.New("the web UI could not be rendered")

// uiAsset is one static file of the UI.
type uiAsset struct {
	body  []byte
	ctype string
	etag  string
}

var (
	uiIndex  = template.Must(template.ParseFS(uiFiles, "ui/index.html"))
	uiAssets = mustLoadUIAssets()
)

// uiPage is what index.html is told: how users sign in ("jwt", "header"
// or "none") and where the management API is.
type uiPage struct {
	Identity string
	API      string
}

// mustLoadUIAssets indexes the static files by name. Requests are looked
// up in this map and nowhere else, so no path can reach outside it.
func mustLoadUIAssets() map[string]uiAsset {
	entries, err := fs.ReadDir(uiFiles, "ui")
	if err != nil {
		panic(err) // the directory is embedded: it cannot be missing
	}
	out := map[string]uiAsset{}
	for _, e := range entries {
		ctype, ok := uiTypes[path.Ext(e.Name())]
		if !ok || e.IsDir() {
			continue // index.html is a template, rendered per request
		}
		body, err := uiFiles.ReadFile("ui/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		out[e.Name()] = uiAsset{body: body, ctype: ctype, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
	}
	return out
}

// serveUI serves the web UI: {prefix}/ui/ is the page, {prefix}/ui/<file>
// one of its static files.
func (h *Handler) serveUI(w http.ResponseWriter, r *http.Request) error {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	name := strings.TrimPrefix(r.URL.Path, h.Prefix+"/ui/")
	if name == "" || name == "index.html" {
		return h.writeUIIndex(w, r)
	}
	a, ok := uiAssets[name]
	if !ok {
		return h.refuse(w, r, errNotFound)
	}
	hdr.Set("Content-Security-Policy", uiCSP)
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("ETag", a.etag)
	// Revalidated every time, so an upgraded gateway never runs a page
	// with last version's scripts; the ETag makes that a 304.
	hdr.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	return nil
}

// writeUIIndex renders the page. It is small and rendered per request, so
// it always matches the handler's current identity setting and prefix.
func (h *Handler) writeUIIndex(w http.ResponseWriter, r *http.Request) error {
	page := uiPage{Identity: "none", API: h.Prefix + "/api/v1"}
	if h.Identity != nil {
		page.Identity = h.Identity.Type
	}
	var buf bytes.Buffer
	if err := uiIndex.Execute(&buf, page); err != nil {
		h.logger.Error("rendering the web UI", zap.Error(err))
		return h.refuse(w, r, errUIUnavailable)
	}
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", uiCSP)
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
	return nil
}
