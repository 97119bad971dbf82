package policy

import (
	"net/url"
	"slices"
	"strings"
)

// maxParams bounds an app's locked parameters.
const maxParams = 32

// validateParams checks locked query parameters: non-empty printable
// names, printable values.
func validateParams(ps map[string]string) error {
	if len(ps) > maxParams {
		return invalid("params", "at most 32 locked parameters")
	}
	for k, v := range ps {
		if k == "" || strings.ContainsFunc(k+v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return invalid("params", "names must be non-empty and names and values printable")
		}
	}
	return nil
}

// paramLock forces an app's locked query parameters onto a request: every
// value the viewer sent under a locked name is dropped, and the locked
// value added, so a filter a link fixes cannot be removed or changed from
// the address bar.
type paramLock struct {
	locked map[string]bool
	// suffix is the locked pairs, encoded, in name order.
	suffix string
}

func newParamLock(ps map[string]string) *paramLock {
	if len(ps) == 0 {
		return nil
	}
	l := &paramLock{locked: make(map[string]bool, len(ps))}
	names := make([]string, 0, len(ps))
	for k := range ps {
		l.locked[strings.ToLower(k)] = true
		names = append(names, k)
	}
	slices.Sort(names)
	pairs := make([]string, len(names))
	for i, k := range names {
		pairs[i] = url.QueryEscape(k) + "=" + url.QueryEscape(ps[k])
	}
	l.suffix = strings.Join(pairs, "&")
	return l
}

// locks reports whether a viewer's parameter name could be read as a
// locked one: the same name in any case, with any spaces around it, or with
// an index or member suffix ("name[]", "name[0]", "name.x") that PHP,
// Rails and some JavaScript parsers fold into the name.
func (l *paramLock) locks(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	if i := strings.IndexAny(name, "[."); i > 0 {
		name = name[:i]
	}
	return l.locked[strings.TrimSpace(name)]
}

// apply returns raw with the locked parameters forced. Both '&' and ';'
// separate pairs here, as some backends read either: a locked name cannot
// be smuggled behind a ';'.
func (l *paramLock) apply(raw string) string {
	var b strings.Builder
	for raw != "" {
		i := strings.IndexAny(raw, "&;")
		pair := raw
		if i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
		} else {
			raw = ""
		}
		key, _, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); pair == "" || err != nil || l.locks(k) {
			continue
		}
		b.WriteString(pair)
		b.WriteByte('&')
	}
	b.WriteString(l.suffix)
	return b.String()
}
