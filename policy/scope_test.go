package policy

import "testing"

func TestCheckPath(t *testing.T) {
	tests := []struct {
		path, raw string
		ok        bool
	}{
		{"/", "", true},
		{"/a/b.html", "", true},
		{"/dash/market*.json", "", true},
		{"/a/", "", true},
		{"", "", false},
		{"a/b", "", false},
		{"/a/../b", "", false},
		{"/..", "", false},
		{"/a/..", "", false},
		{"/a/./b", "", false},
		{"/a/.", "", false},
		{"/a//b", "", false},
		{"//evil.example.com", "", false},
		{"/a/..;/b", "", false},
		{"/a\\b", "", false},
		{"/a\x00b", "", false},
		{"/a\nb", "", false},
		{"/.hidden", "", true},
		{"/a..b", "", true},
		// Encoded forms: the decoded path hides the separator, the raw
		// one still shows it.
		{"/a/b/c", "/a/b%2Fc", false},
		{"/a/b/c", "/a/b%2fc", false},
		{"/a\\b", "/a%5Cb", false},
		{"/a/../b", "/a/%2e%2e/b", false},
		{"/a/./b", "/a/%2E/b", false},
		{"/a b", "/a%20b", true},
		// What a backend may read as another path: path parameters
		// (Tomcat, Jetty, Spring: /admin;x=1 is /admin) and a second
		// round of decoding (%252e is %2e is .).
		{"/app/x;jsessionid=1", "", false},
		{"/admin;/", "", false},
		{"/d/market.html;", "", false},
		{"/a;b", "/a%3Bb", false},
		{"/a;b", "/a%3bb", false},
		{"/a/%2e%2e/b", "/a/%252e%252e/b", false},
		{"/a%b", "", false},
		{"/a%2fb", "/a%252fb", false},
	}
	for _, tt := range tests {
		err := CheckPath(tt.path, tt.raw)
		if (err == nil) != tt.ok {
			t.Errorf("CheckPath(%q, %q) = %v, want ok=%v", tt.path, tt.raw, err, tt.ok)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/a", "/a", true},
		{"/a", "/ab", false},
		{"/a", "/a/", false},
		{"/a", "/A", false},
		{"/dir/*", "/dir/", true},
		{"/dir/*", "/dir/x/y.js", true},
		{"/dir/*", "/dir", false},
		{"/dir/*", "/dirx", false},
		{"/dir/*", "/dirx/y", false},
		{"/dash*", "/dash", true},
		{"/dash*", "/dashboards/x", true},
		{"/dash*", "/das", false},
		{"/Dash*", "/dash", false},
	}
	for _, tt := range tests {
		if got := PathPattern(tt.pattern).Match(tt.path); got != tt.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	good := []string{"/", "/a", "/a/*", "/a*", "/*"}
	bad := []string{"", "a", "/a/*/b", "*", "/a/../*", "//a", "/a**"}
	for _, p := range good {
		if err := ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v, want ok", p, err)
		}
	}
	for _, p := range bad {
		if ValidatePattern(p) == nil {
			t.Errorf("ValidatePattern(%q) accepted", p)
		}
	}
}

func TestAccessAllow(t *testing.T) {
	ac := NewAccess(App{
		Scope: []string{"/dashboards/market*", "/assets/*", "/api/query"}, Deny: []string{"/assets/private/*"},
		Methods: []string{"GET", "HEAD", "POST"},
	})
	tests := []struct {
		method, path string
		want         error
	}{
		{"GET", "/dashboards/market.html", nil},
		{"HEAD", "/assets/app.js", nil},
		{"POST", "/api/query", nil},
		{"PUT", "/api/query", ErrMethodNotAllowed},
		{"DELETE", "/assets/app.js", ErrMethodNotAllowed},
		{"get", "/assets/app.js", ErrMethodNotAllowed},
		{"GET", "/assets/private/key", ErrOutOfScope},
		{"GET", "/api/query/more", ErrOutOfScope},
		{"GET", "/dashboards/other", ErrOutOfScope},
		{"PUT", "/elsewhere", ErrOutOfScope},
	}
	for _, tt := range tests {
		if got := ac.Allow(tt.method, tt.path); got != tt.want {
			t.Errorf("Allow(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}
