package policy

import (
	"net/url"
	"strings"
)

// EntryPath is the path of an entry or object, without its query string.
func EntryPath(entry string) string {
	p, _, _ := strings.Cut(entry, "?")
	return p
}

// ValidateEntry checks where a link lands: a clean absolute path, with an
// optional query string (a dashboard's variables, a Prometheus graph's
// expression), never a fragment or a wildcard. Scope and deny decide on
// the path only.
func ValidateEntry(entry string) error {
	p, q, _ := strings.Cut(entry, "?")
	if err := CheckPath(p, ""); err != nil || strings.ContainsAny(p, "*") {
		return invalid("entry", "must be a clean absolute path, optionally with a query string: "+entry)
	}
	if strings.ContainsAny(q, "# \\\"<>`{}|^") || strings.ContainsFunc(q, func(r rune) bool { return r <= 0x20 || r >= 0x7f }) {
		return invalid("entry", "its query string must be URL-encoded, without '#' or spaces")
	}
	if _, err := url.ParseQuery(q); err != nil {
		return invalid("entry", "its query string is malformed")
	}
	return nil
}
