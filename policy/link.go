package policy

import (
	"html"
	"net/url"
	"strconv"
	"strings"
)

// LinkOptions shape an embed code.
type LinkOptions struct {
	// Object is an optional path inside the app's scope to show instead of
	// the entry.
	Object string
	// Width and Height size the iframe; CSS lengths or pixels.
	Width, Height string
}

// Validate checks the iframe's size: empty (the default), or a whole
// number of pixels or a percentage from 1 to 10000.
func (o LinkOptions) Validate() error {
	for _, f := range []struct{ name, v string }{{"width", o.Width}, {"height", o.Height}} {
		if f.v != "" && cssLength(f.v, "") == "" {
			return invalid(f.name, "must be a number of pixels or a percentage, such as 800 or 100%")
		}
	}
	return nil
}

// OpenPath is the path of an app's landing page under the gateway prefix.
func OpenPath(prefix, app string) string { return prefix + "/open/" + app }

// AppLink builds the public link of an app: the landing page with the
// access code in the URL fragment, which browsers never send to a server.
func AppLink(publicURL, prefix, app, code string) string {
	return strings.TrimSuffix(publicURL, "/") + OpenPath(prefix, app) + "#code=" + code
}

// EmbedURL is the link an embed code's iframe loads.
func EmbedURL(publicURL, prefix, app, code, object string) string {
	u := AppLink(publicURL, prefix, app, code) + "&embed=1"
	if object != "" {
		u += "&object=" + url.QueryEscape(object)
	}
	return u
}

// EmbedHTML is the iframe snippet of an embed code. The iframe is lazy,
// sends no referrer and is titled for screen readers.
func EmbedHTML(embedURL, title string, opts LinkOptions) string {
	w, h := cssLength(opts.Width, "100%"), cssLength(opts.Height, "600")
	return `<iframe src="` + html.EscapeString(embedURL) + `" title="` + html.EscapeString(title) +
		`" width="` + w + `" height="` + h + `" style="border:0" loading="lazy" referrerpolicy="no-referrer" allow="fullscreen"></iframe>`
}

// cssLength accepts a plain pixel count or a percentage, else the default.
func cssLength(v, def string) string {
	s := strings.TrimSuffix(v, "%")
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= 10000 {
		return v
	}
	return def
}
