package caddymodule

import (
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

func TestHeaderIdentity(t *testing.T) {
	id, err := (&Identity{Type: "header", Header: "remote-user"}).provision()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		values []string
		want   string // "" for 401
	}{
		{[]string{"alice"}, "alice"},
		{[]string{"bob@example.com"}, "bob@example.com"},
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"alice", "bob"}, ""},
		{[]string{"../alice"}, ""},
		{[]string{"a b"}, ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		for _, v := range tc.values {
			r.Header.Add("Remote-User", v)
		}
		user, err := id.identify(r)
		if user != tc.want || (tc.want == "") != errors.Is(err, policy.ErrUnauthenticated) {
			t.Errorf("%q: %q %v, want %q", tc.values, user, err, tc.want)
		}
	}
}

func TestJWTIdentityAuthorizationHeader(t *testing.T) {
	secret := strings.Repeat("s", 40)
	id, err := (&Identity{Type: "jwt", HMACSecret: secret, Issuer: "https://idp", Audience: "aa"}).provision()
	if err != nil {
		t.Fatal(err)
	}
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "iss": "https://idp", "aud": "aa", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{"Bearer " + token, true},
		{"bearer " + token, true},
		{"Bearer " + token + " ", true},
		{"Bearer", false},
		{"Bearer ", false},
		{"Basic " + token, false},
		{token, false},
		{"Bearer " + token + strings.Repeat("x", maxBearer), false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", tc.header)
		user, err := id.identify(r)
		if tc.ok != (err == nil && user == "alice") {
			t.Errorf("Authorization %.40q…: %q %v", tc.header, user, err)
		}
	}
}

func TestIdentityProvisionErrors(t *testing.T) {
	for name, id := range map[string]Identity{
		"header without name":  {Type: "header"},
		"header with a space":  {Type: "header", Header: "Remote User"},
		"unknown type":         {Type: "ldap"},
		"jwt key file missing": {Type: "jwt", PublicKey: filepath.Join(t.TempDir(), "none.pem"), Issuer: "i", Audience: "a"},
		"jwt short secret":     {Type: "jwt", HMACSecret: "short", Issuer: "i", Audience: "a"},
	} {
		if _, err := id.provision(); err == nil {
			t.Errorf("%s: accepted", name)
		} else if id.HMACSecret != "" && strings.Contains(err.Error(), id.HMACSecret) {
			t.Errorf("%s: the secret is in the error %q", name, err)
		}
	}
}
