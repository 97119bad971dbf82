// Command demotoken prints a bearer token for a tenant user of the demo, as
// an identity provider would issue it, so the management API can be tried
// with curl:
//
//	TOKEN=$(go run ./examples/demotoken alice)
//	curl -H "Authorization: Bearer $TOKEN" http://localhost:8080/_anon/api/v1/me
//
// It signs with the demo's hmac_secret from Caddyfile.example. In
// production the tokens come from your identity provider; never ship a
// secret that is written in a repository.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The identity settings of Caddyfile.example's identity jwt block.
const (
	demoSecret   = "demo-only-secret-change-me-0123456789abcdef"
	demoIssuer   = "https://idp.demo.localhost"
	demoAudience = "anonymous-access"
)

func main() {
	ttl := flag.Duration("ttl", time.Hour, "how long the token is valid")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./examples/demotoken [-ttl 1h] <user id>")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	now := time.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": flag.Arg(0),
		"iss": demoIssuer,
		"aud": demoAudience,
		"iat": now.Unix(),
		"exp": now.Add(*ttl).Unix(),
	}).SignedString([]byte(demoSecret))
	if err != nil {
		fmt.Fprintln(os.Stderr, "demotoken:", err)
		os.Exit(1)
	}
	fmt.Println(token)
}
