package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func testSigner(t *testing.T, now time.Time) *Signer {
	t.Helper()
	s, err := NewSigner(testKey, "anonymous-access/acme", func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testSession(now time.Time) Session {
	return Session{
		ID: NewSessionID(), App: "market", Kind: KindLink, Version: 3,
		IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute), RenewUntil: now.Add(12 * time.Hour),
	}
}

func TestMintVerifyRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := testSigner(t, now)
	sess := testSession(now)
	tok, err := s.Mint(sess)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != sess.ID || got.App != "market" || got.Version != 3 || got.Kind != KindLink ||
		!got.ExpiresAt.Equal(sess.ExpiresAt) || !got.IssuedAt.Equal(now) || !got.RenewUntil.Equal(sess.RenewUntil) {
		t.Fatalf("round trip: got %+v, want %+v", got, sess)
	}
}

// TestMintMatchesGolangJWT checks the hand-written token against golang-jwt's
// own parser, claim by claim.
func TestMintMatchesGolangJWT(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := testSigner(t, now)
	sess := testSession(now)
	sess.Kind = KindEmbed
	tok, _ := s.Mint(sess)
	var c claims
	parsed, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return testKey, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithIssuer("anonymous-access/acme"), jwt.WithAudience("market"), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt refuses the minted token: %v", err)
	}
	if parsed.Header["alg"] != "HS256" || parsed.Header["typ"] != "JWT" {
		t.Fatalf("header %v", parsed.Header)
	}
	if c.ID != sess.ID || c.Version != 3 || c.Kind != KindEmbed || c.RenewUntil != sess.RenewUntil.Unix() ||
		c.ExpiresAt.Unix() != sess.ExpiresAt.Unix() || c.IssuedAt.Unix() != now.Unix() {
		t.Fatalf("claims %+v", c)
	}
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := testSigner(t, now)
	good, _ := s.Mint(testSession(now))
	enc := base64.RawURLEncoding
	parts := strings.Split(good, ".")
	payload, _ := enc.DecodeString(parts[1])

	other, _ := NewSigner([]byte("another key, also 32 bytes long!"), "anonymous-access/acme", func() time.Time { return now })
	otherTok, _ := other.Mint(testSession(now))
	otherIssuer, _ := NewSigner(testKey, "anonymous-access/other", func() time.Time { return now })
	otherIssuerTok, _ := otherIssuer.Mint(testSession(now))

	sign := func(method jwt.SigningMethod, key any, c jwt.Claims) string {
		tok, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	std := func(mut func(*claims)) claims {
		c := claims{RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "anonymous-access/acme", Audience: jwt.ClaimStrings{"market"},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "abc",
		}, Kind: KindLink}
		mut(&c)
		return c
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	noneTok := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, std(func(*claims) {}))

	tests := map[string]struct {
		token string
		want  error
	}{
		"expired": {sign(jwt.SigningMethodHS256, testKey, std(func(c *claims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second))
		})), ErrExpired},
		"no exp":            {sign(jwt.SigningMethodHS256, testKey, std(func(c *claims) { c.ExpiresAt = nil })), ErrInvalidToken},
		"alg none":          {noneTok, ErrInvalidToken},
		"alg none unsigned": {parts[0][:0] + enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", ErrInvalidToken},
		"wrong alg HS512":   {sign(jwt.SigningMethodHS512, testKey, std(func(*claims) {})), ErrInvalidToken},
		"wrong alg ES256":   {sign(jwt.SigningMethodES256, ecKey, std(func(*claims) {})), ErrInvalidToken},
		"two audiences":     {sign(jwt.SigningMethodHS256, testKey, std(func(c *claims) { c.Audience = jwt.ClaimStrings{"market", "other"} })), ErrInvalidToken},
		"no audience":       {sign(jwt.SigningMethodHS256, testKey, std(func(c *claims) { c.Audience = nil })), ErrInvalidToken},
		"bad audience":      {sign(jwt.SigningMethodHS256, testKey, std(func(c *claims) { c.Audience = jwt.ClaimStrings{"../x"} })), ErrInvalidToken},
		"unknown kind":      {sign(jwt.SigningMethodHS256, testKey, std(func(c *claims) { c.Kind = "admin" })), ErrInvalidToken},
		"wrong issuer":      {otherIssuerTok, ErrInvalidToken},
		"other key":         {otherTok, ErrInvalidToken},
		"tampered payload": {parts[0] + "." + enc.EncodeToString([]byte(strings.Replace(string(payload), `"ver":3`, `"ver":4`, 1))) + "." + parts[2],
			ErrInvalidToken},
		"tampered signature": {parts[0] + "." + parts[1] + "." + flip(parts[2]), ErrInvalidToken},
		"oversized":          {good + strings.Repeat("A", MaxTokenSize), ErrInvalidToken},
		"garbage":            {"not.a.token", ErrInvalidToken},
		"empty":              {"", ErrInvalidToken},
	}
	for name, tt := range tests {
		if _, err := s.Verify(tt.token); err != tt.want {
			t.Errorf("%s: got %v, want %v", name, err, tt.want)
		}
	}
	if _, err := s.Verify(good); err != nil {
		t.Fatalf("the good token: %v", err)
	}
}

func flip(sig string) string {
	b := []byte(sig)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func TestVerifyForRenewal(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	s := testSigner(t, start)
	sess := testSession(start)
	tok, _ := s.Mint(sess)
	later := start.Add(time.Hour)
	if _, err := s.VerifyForRenewal(tok, later); err != nil {
		t.Fatalf("expired token inside the renewal window: %v", err)
	}
	if _, err := s.VerifyForRenewal(tok, start.Add(12*time.Hour)); err != ErrExpired {
		t.Fatalf("at the end of the window: got %v, want ErrExpired", err)
	}
	if _, err := s.VerifyForRenewal(tok[:len(tok)-2]+"xx", later); err != ErrInvalidToken {
		t.Fatalf("tampered: got %v", err)
	}
	other, _ := NewSigner(testKey, "anonymous-access/other", func() time.Time { return later })
	if _, err := other.VerifyForRenewal(tok, later); err != ErrInvalidToken {
		t.Fatalf("other issuer: got %v", err)
	}
}

func TestRefIsStableAndOpaque(t *testing.T) {
	s := testSigner(t, time.Now())
	id := NewSessionID()
	r := s.Ref(id)
	if r != s.Ref(id) || r == s.Ref(NewSessionID()) {
		t.Fatal("Ref must be stable per session and differ between sessions")
	}
	if strings.Contains(r, id) || len(r) != 24 {
		t.Fatalf("Ref %q must not reveal the id", r)
	}
}

func TestNewSignerRefusesShortKeys(t *testing.T) {
	if _, err := NewSigner([]byte("short"), "x", time.Now); err == nil {
		t.Fatal("short key accepted")
	}
}

// TestVerifyAcrossInstanceClocks checks that a token minted by an instance
// whose clock runs a few seconds ahead is good here, and that the leeway
// never lengthens a session.
func TestVerifyAcrossInstanceClocks(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		mintAt  time.Time
		checkAt time.Time
		want    error
	}{
		{"minted 4s ahead", now.Add(4 * time.Second), now, nil},
		{"minted 10s ahead", now.Add(10 * time.Second), now, ErrInvalidToken},
		{"1s past exp", now, now.Add(15*time.Minute + time.Second), ErrExpired},
		{"at exp", now, now.Add(15 * time.Minute), ErrExpired},
	} {
		tok, err := testSigner(t, tc.mintAt).Mint(testSession(tc.mintAt))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := testSigner(t, tc.checkAt).Verify(tok); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestForgedTokenCostsNoParsing checks that a token with a wrong signature
// is refused before any of it is decoded: no allocation at all.
func TestForgedTokenCostsNoParsing(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := testSigner(t, now)
	tok, err := s.Mint(testSession(now))
	if err != nil {
		t.Fatal(err)
	}
	forged := tok[:len(tok)-4] + "AAAA"
	if _, err := s.Verify(forged); err != ErrInvalidToken {
		t.Fatalf("forged: %v", err)
	}
	if raceEnabled {
		// sync.Pool drops a quarter of what is put back under the race
		// detector, so a pooled HMAC is sometimes made anew.
		t.Skip("allocations are not counted under the race detector")
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = s.Verify(forged) }); n != 0 {
		t.Fatalf("a forged token costs %v allocations", n)
	}
}

// TestOneSpellingPerToken checks that a signature with its unused trailing
// bits set, which a lenient decoder reads as the same bytes, is refused:
// one session is never several cache entries.
func TestOneSpellingPerToken(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := testSigner(t, now)
	tok, err := s.Mint(testSession(now))
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	respelled := tok[:len(tok)-1] + string(alphabet[last^1])
	if _, err := s.Verify(tok); err != nil {
		t.Fatalf("the token: %v", err)
	}
	if _, err := s.Verify(respelled); err != ErrInvalidToken {
		t.Fatalf("the same signature spelled otherwise: %v", err)
	}
}
