package policy

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// idpNow is the injected clock of every identity test.
var idpNow = time.Unix(1_800_000_000, 0)

// idpClaims returns the claims of a good token for alice, changed by edit.
// Hostile values contain "mallory" so that tests can assert no error
// message repeats them.
func idpClaims(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":   idpIssuer,
		"aud":   []string{"other-service", idpAudience},
		"sub":   "alice",
		"email": "alice@example.com",
		"iat":   idpNow.Add(-time.Minute).Unix(),
		"exp":   idpNow.Add(10 * time.Minute).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func idpToken(t testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsignedToken writes a token by hand, since golang-jwt only signs "none"
// when asked with a special constant.
func unsignedToken(t testing.TB, header string, c jwt.MapClaims) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload) + "."
}

func TestJWTIdentityVerify(t *testing.T) {
	k := idpKeys()
	hmacID := idpIdentity(t, JWTIdentityConfig{HMACSecret: idpSecret})
	rsaPEM := pkixPEM(t, &k.rsa.PublicKey)
	rsaID := idpIdentity(t, JWTIdentityConfig{PublicKeyPEM: rsaPEM})
	p256PEM := pkixPEM(t, &k.p256.PublicKey)
	p256ID := idpIdentity(t, JWTIdentityConfig{PublicKeyPEM: p256PEM})
	p384ID := idpIdentity(t, JWTIdentityConfig{PublicKeyPEM: pkixPEM(t, &k.p384.PublicKey)})
	edPEM := pkixPEM(t, k.ed.Public())
	edID := idpIdentity(t, JWTIdentityConfig{PublicKeyPEM: edPEM})
	emailID := idpIdentity(t, JWTIdentityConfig{HMACSecret: idpSecret, UserClaim: "email"})
	wideID := idpIdentity(t, JWTIdentityConfig{HMACSecret: idpSecret, Leeway: 2 * time.Minute})

	hs := func(edit func(jwt.MapClaims)) string {
		return idpToken(t, jwt.SigningMethodHS256, idpSecret, idpClaims(edit))
	}
	set := func(claim string, v any) func(jwt.MapClaims) { return func(c jwt.MapClaims) { c[claim] = v } }
	drop := func(claim string) func(jwt.MapClaims) { return func(c jwt.MapClaims) { delete(c, claim) } }
	at := func(d time.Duration) int64 { return idpNow.Add(d).Unix() }

	good := hs(nil)
	// Change the signature's first character: it carries six full bits,
	// unlike the last one, whose low bits base64 decoding drops.
	sig := strings.LastIndexByte(good, '.') + 1
	tampered := good[:sig] + map[bool]string{true: "B", false: "A"}[good[sig] == 'A'] + good[sig+1:]
	critical := jwt.NewWithClaims(jwt.SigningMethodHS256, idpClaims(nil))
	critical.Header["crit"] = []string{"mallory-ext"}
	criticalTok, err := critical.SignedString(idpSecret)
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's own anonymous session token, as minted for app
	// "market" of tenant "demo": never an identity, whatever the secret.
	session := Session{ID: NewSessionID(), App: "market", Kind: KindLink, Version: 1,
		IssuedAt: idpNow, ExpiresAt: idpNow.Add(15 * time.Minute), RenewUntil: idpNow.Add(12 * time.Hour)}
	mint := func(secret []byte) string {
		s, err := NewSigner(secret, "anonymous-access/demo", func() time.Time { return idpNow })
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Mint(session)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	for _, tc := range []struct {
		name  string
		id    *JWTIdentity
		token string
		user  string // when accepted
		err   error  // the reason when refused
	}{
		{"HS256", hmacID, good, "alice", nil},
		{"HS384", hmacID, idpToken(t, jwt.SigningMethodHS384, idpSecret, idpClaims(nil)), "alice", nil},
		{"HS512", hmacID, idpToken(t, jwt.SigningMethodHS512, idpSecret, idpClaims(nil)), "alice", nil},
		{"RS256", rsaID, idpToken(t, jwt.SigningMethodRS256, k.rsa, idpClaims(nil)), "alice", nil},
		{"RS512", rsaID, idpToken(t, jwt.SigningMethodRS512, k.rsa, idpClaims(nil)), "alice", nil},
		{"PS256", rsaID, idpToken(t, jwt.SigningMethodPS256, k.rsa, idpClaims(nil)), "alice", nil},
		{"ES256 on P-256", p256ID, idpToken(t, jwt.SigningMethodES256, k.p256, idpClaims(nil)), "alice", nil},
		{"ES384 on P-384", p384ID, idpToken(t, jwt.SigningMethodES384, k.p384, idpClaims(nil)), "alice", nil},
		{"EdDSA", edID, idpToken(t, jwt.SigningMethodEdDSA, k.ed, idpClaims(nil)), "alice", nil},
		{"aud as a single string", hmacID, hs(set("aud", idpAudience)), "alice", nil},
		{"user id with idp prefix", hmacID, hs(set("sub", "auth0|1234")), "auth0|1234", nil},
		{"custom user claim", emailID, hs(set("sub", "mallory")), "alice@example.com", nil},

		{"alg none", hmacID, unsignedToken(t, `{"alg":"none","typ":"JWT"}`, idpClaims(nil)), "", errIdentityAlgorithm},
		{"alg none, public key", rsaID, unsignedToken(t, `{"alg":"none"}`, idpClaims(nil)), "", errIdentityAlgorithm},
		{"HS256 signed with the RSA public key PEM", rsaID, idpToken(t, jwt.SigningMethodHS256, rsaPEM, idpClaims(nil)), "", errIdentityAlgorithm},
		{"HS256 signed with the P-256 public key PEM", p256ID, idpToken(t, jwt.SigningMethodHS256, p256PEM, idpClaims(nil)), "", errIdentityAlgorithm},
		{"HS256 signed with the Ed25519 public key PEM", edID, idpToken(t, jwt.SigningMethodHS256, edPEM, idpClaims(nil)), "", errIdentityAlgorithm},
		{"ES384 for a P-256 key", p256ID, idpToken(t, jwt.SigningMethodES384, k.p384, idpClaims(nil)), "", errIdentityAlgorithm},
		{"RS256 for an HMAC secret", hmacID, idpToken(t, jwt.SigningMethodRS256, k.rsa, idpClaims(nil)), "", errIdentityAlgorithm},
		{"EdDSA for an RSA key", rsaID, idpToken(t, jwt.SigningMethodEdDSA, k.ed, idpClaims(nil)), "", errIdentityAlgorithm},
		{"unknown alg", hmacID, unsignedToken(t, `{"alg":"HS257"}`, idpClaims(nil)) + "c2ln", "", errIdentityAlgorithm},
		{"no alg", hmacID, unsignedToken(t, `{"typ":"JWT"}`, idpClaims(nil)) + "c2ln", "", errIdentityAlgorithm},

		{"other secret", hmacID, idpToken(t, jwt.SigningMethodHS256, idpOtherSecret, idpClaims(nil)), "", errIdentitySignature},
		{"other RSA key", rsaID, idpToken(t, jwt.SigningMethodRS256, k.rsaOther, idpClaims(nil)), "", errIdentitySignature},
		{"other P-256 key", p256ID, idpToken(t, jwt.SigningMethodES256, k.p256Other, idpClaims(nil)), "", errIdentitySignature},
		{"other Ed25519 key", edID, idpToken(t, jwt.SigningMethodEdDSA, k.edOther, idpClaims(nil)), "", errIdentitySignature},
		{"tampered signature", hmacID, tampered, "", errIdentitySignature},
		{"session token, other secret", hmacID, mint(idpOtherSecret), "", errIdentitySignature},
		{"session token, same secret", hmacID, mint(idpSecret), "", errIdentityIssuer},

		{"wrong issuer", hmacID, hs(set("iss", "https://mallory.example")), "", errIdentityIssuer},
		{"issuer differs in case", hmacID, hs(set("iss", "https://IDP.example.com")), "", errIdentityIssuer},
		{"no issuer", hmacID, hs(drop("iss")), "", errIdentityIssuer},
		{"wrong audience", hmacID, hs(set("aud", []string{"mallory-app"})), "", errIdentityAudience},
		{"no aud", hmacID, hs(drop("aud")), "", errIdentityAudience},
		{"empty aud", hmacID, hs(set("aud", []string{})), "", errIdentityAudience},
		{"wrong issuer and expired", hmacID, hs(func(c jwt.MapClaims) { c["iss"] = "mallory"; c["exp"] = at(-time.Hour) }), "", errIdentityIssuer},

		{"no exp", hmacID, hs(drop("exp")), "", errIdentityNoExpiry},
		{"expired", hmacID, hs(set("exp", at(-31*time.Second))), "", errIdentityExpired},
		{"expired within leeway", hmacID, hs(set("exp", at(-29*time.Second))), "alice", nil},
		{"expired within a wider leeway", wideID, hs(set("exp", at(-90*time.Second))), "alice", nil},
		{"expired beyond a wider leeway", wideID, hs(set("exp", at(-121*time.Second))), "", errIdentityExpired},
		{"nbf in the future", hmacID, hs(set("nbf", at(time.Minute))), "", errIdentityNotYetValid},
		{"nbf within leeway", hmacID, hs(set("nbf", at(20*time.Second))), "alice", nil},
		{"iat in the future", hmacID, hs(set("iat", at(time.Minute))), "", errIdentityFromFuture},
		{"exp not a number", hmacID, hs(set("exp", "mallory")), "", errIdentityClaims},

		{"user claim missing", hmacID, hs(drop("sub")), "", errIdentityNoUser},
		{"custom user claim missing", emailID, hs(drop("email")), "", errIdentityNoUser},
		{"user claim a number", hmacID, hs(set("sub", 42)), "", errIdentityUserType},
		{"user claim a list", hmacID, hs(set("sub", []string{"mallory"})), "", errIdentityUserType},
		{"user id empty", hmacID, hs(set("sub", "")), "", errIdentityUser},
		{"user id ../x", hmacID, hs(set("sub", "../x")), "", errIdentityUser},
		{"user id a/b", hmacID, hs(set("sub", "a/b")), "", errIdentityUser},
		{"user id with a newline", hmacID, hs(set("sub", "mallory\nadmin")), "", errIdentityUser},
		{"critical header", hmacID, criticalTok, "", errIdentityCritical},

		{"empty", hmacID, "", "", errIdentityNoToken},
		{"garbage", hmacID, "mallory", "", errIdentityMalformed},
		{"dots only", hmacID, "..", "", errIdentityMalformed},
		{"four segments", hmacID, good + ".mallory", "", errIdentityMalformed},
		{"bearer prefix kept", hmacID, "Bearer " + good, "", errIdentityMalformed},
		{"header not JSON", hmacID, "bWFsbG9yeQ." + strings.SplitN(good, ".", 2)[1], "", errIdentityMalformed},
		{"oversized", hmacID, hs(set("pad", strings.Repeat("mallory", 1200))), "", errIdentityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, err := tc.id.Verify(tc.token)
			if tc.err == nil {
				if err != nil || user != tc.user {
					t.Fatalf("Verify = %q, %v; want %q", user, err, tc.user)
				}
				return
			}
			if user != "" || !errors.Is(err, ErrUnauthenticated) || !errors.Is(err, tc.err) {
				t.Fatalf("Verify = %q, %v; want %v", user, err, tc.err)
			}
			msg := err.Error()
			for _, value := range []string{"mallory", "../x", "a/b", "demo", "market"} {
				if strings.Contains(msg, value) {
					t.Fatalf("error %q repeats a claim value", msg)
				}
			}
			for _, part := range append(strings.Split(tc.token, "."), tc.token) {
				if len(part) >= 8 && strings.Contains(msg, part) {
					t.Fatalf("error %q contains the token", msg)
				}
			}
		})
	}
}

// TestJWTIdentitySizeLimit checks the boundary: a token of up to
// MaxIdentityTokenSize bytes is parsed, one byte more is not.
func TestJWTIdentitySizeLimit(t *testing.T) {
	id := idpIdentity(t, JWTIdentityConfig{HMACSecret: idpSecret})
	sized := func(n int) string {
		return idpToken(t, jwt.SigningMethodHS256, idpSecret, idpClaims(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("p", n) }))
	}
	// base64 grows in steps of 4 characters, so look for the largest pad
	// that still fits and the first that does not.
	n := (MaxIdentityTokenSize - len(sized(0))) * 3 / 4
	for len(sized(n+1)) <= MaxIdentityTokenSize {
		n++
	}
	for len(sized(n)) > MaxIdentityTokenSize {
		n--
	}
	fits, over := sized(n), sized(n+1)
	if len(fits) < MaxIdentityTokenSize-4 || len(over) <= MaxIdentityTokenSize {
		t.Fatalf("bad boundary tokens: %d and %d bytes", len(fits), len(over))
	}
	if user, err := id.Verify(fits); err != nil || user != "alice" {
		t.Fatalf("Verify(%d bytes) = %q, %v; want alice", len(fits), user, err)
	}
	if _, err := id.Verify(over); !errors.Is(err, errIdentityTooLarge) {
		t.Fatalf("Verify(%d bytes) = %v; want %v", len(over), err, errIdentityTooLarge)
	}
}

// TestJWTIdentityUsesInjectedClock checks that time comes from cfg.Now: the
// same token is good now and expired an hour later, with no sleeping.
func TestJWTIdentityUsesInjectedClock(t *testing.T) {
	now := idpNow
	id := idpIdentity(t, JWTIdentityConfig{HMACSecret: idpSecret, Now: func() time.Time { return now }})
	tok := idpToken(t, jwt.SigningMethodHS256, idpSecret, idpClaims(nil))
	if _, err := id.Verify(tok); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, err := id.Verify(tok); !errors.Is(err, errIdentityExpired) {
		t.Fatalf("an hour later: %v, want %v", err, errIdentityExpired)
	}
}
