package policy

import (
	"strings"
)

// CheckPath reports whether a request path is safe to decide on: it must be
// absolute and free of dot segments, empty segments, backslashes, control
// characters and encoded slashes or backslashes, so that the path we match
// is exactly the path the backend will act on. It also refuses ';', which
// Java servlet containers and Spring read as the start of path parameters
// (/admin;x is /admin to them), and '%' in the decoded path, a second round
// of encoding (%252e) that a backend decoding again would read as a
// separator or a dot. path is the decoded path, rawPath the escaped form
// when it differs from the default encoding.
func CheckPath(path, rawPath string) error {
	if path == "" || path[0] != '/' {
		return ErrBadPath
	}
	if rawPath != "" && hasEncodedSeparator(rawPath) {
		return ErrBadPath
	}
	segStart := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) {
			c := path[i]
			if c < 0x20 || c == 0x7f || c == '\\' || c == ';' || c == '%' {
				return ErrBadPath
			}
			if c != '/' {
				continue
			}
		}
		seg := path[segStart:i]
		if i < len(path) && seg == "" {
			return ErrBadPath // "//"
		}
		if seg == "." || strings.HasPrefix(seg, "..") {
			return ErrBadPath
		}
		segStart = i + 1
	}
	return nil
}

func hasEncodedSeparator(raw string) bool {
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		switch {
		case raw[i+1] == '2' && (raw[i+2] == 'f' || raw[i+2] == 'F'),
			raw[i+1] == '5' && (raw[i+2] == 'c' || raw[i+2] == 'C'),
			raw[i+1] == '2' && (raw[i+2] == 'e' || raw[i+2] == 'E'),
			raw[i+1] == '0' && raw[i+2] == '0':
			return true
		}
	}
	return false
}

// PathPattern is one scope or deny pattern. Patterns are case-sensitive and
// match a cleaned path: an exact path ("/a.html"), a directory ("/dir/*":
// everything under "/dir/", never "/dirx"), or a prefix ("/dash*": any path
// starting with "/dash", an explicit choice of the operator).
type PathPattern string

// ValidatePattern checks that a pattern is absolute and clean, with at most
// one "*", at its end.
func ValidatePattern(p string) error {
	if p == "" || p[0] != '/' {
		return invalid("pattern", "must start with /")
	}
	star := strings.IndexByte(p, '*')
	if star >= 0 && star != len(p)-1 {
		return invalid("pattern", "'*' is only allowed at the end")
	}
	if err := CheckPath(strings.TrimSuffix(p, "*"), ""); err != nil {
		return invalid("pattern", "must be a clean path without dot segments or empty segments")
	}
	return nil
}

// Match reports whether the cleaned path matches the pattern.
func (p PathPattern) Match(path string) bool {
	s := string(p)
	if n := len(s); n > 0 && s[n-1] == '*' {
		return strings.HasPrefix(path, s[:n-1])
	}
	return path == s
}

// PathSet is a list of patterns.
type PathSet []PathPattern

// Match reports whether any pattern matches path.
func (ps PathSet) Match(path string) bool {
	for _, p := range ps {
		if p.Match(path) {
			return true
		}
	}
	return false
}

// MethodSet is the set of HTTP methods an app allows anonymous users.
type MethodSet []string

// Allows reports whether m is in the set.
func (ms MethodSet) Allows(m string) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// DefaultMethods are the methods an app allows when it names none:
// anonymous access is read-only unless the operator says otherwise.
var DefaultMethods = []string{"GET", "HEAD"}

var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true,
}
