package policy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize bounds a session token; anything longer is refused before
// parsing so that hostile input costs nothing.
const MaxTokenSize = 2048

// claims is the JWT payload of a session token.
type claims struct {
	jwt.RegisteredClaims
	Version    uint64 `json:"ver"`
	Kind       Kind   `json:"knd"`
	RenewUntil int64  `json:"ren"`
}

// Signer mints and verifies session tokens: HS256 only, with exp, iss and
// aud required.
type Signer struct {
	key     []byte
	issuer  string
	now     func() time.Time
	strict  *jwt.Parser
	loose   *jwt.Parser
	macs    sync.Pool // of HMAC-SHA256 keyed with key
	checks  sync.Pool // of *signatureCheck
	refMacs sync.Pool // of HMAC-SHA256 keyed with a key derived from key
	clients *clientIDs
}

// ClockLeeway is how far apart the clocks of instances sharing a tenant
// may be for iat and nbf.
const ClockLeeway = 5 * time.Second

// MinSigningKeyLen is the shortest signing key accepted (256 bits).
const MinSigningKeyLen = 32

// NewSigner returns a Signer for tokens of the given issuer (one per
// tenant gateway). now is the clock used to check expiry.
func NewSigner(key []byte, issuer string, now func() time.Time) (*Signer, error) {
	if len(key) < MinSigningKeyLen {
		return nil, invalid("signing_key", "must be at least 32 bytes")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("session-reference"))
	refKey := mac.Sum(nil)
	return &Signer{
		key:    key,
		issuer: issuer,
		now:    now,
		strict: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			// Instances may disagree on the clock by a few seconds: a
			// token minted on one is not "issued in the future" on
			// another. Verify checks exp again without it, so the
			// leeway never lengthens a session.
			jwt.WithLeeway(ClockLeeway),
			jwt.WithIssuer(issuer),
			jwt.WithTimeFunc(now),
		),
		loose: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithoutClaimsValidation(),
		),
		macs:    sync.Pool{New: func() any { return hmac.New(sha256.New, key) }},
		checks:  sync.Pool{New: func() any { return &signatureCheck{mac: hmac.New(sha256.New, key)} }},
		refMacs: sync.Pool{New: func() any { return hmac.New(sha256.New, refKey) }},
		clients: newClientIDs(key),
	}, nil
}

// NewSigningKey returns a fresh random signing key.
func NewSigningKey() []byte {
	return []byte(randomToken(MinSigningKeyLen))
}

// Mint signs a session into a token. Minting is on the path of every new
// session, so the compact JWT is written directly (a fixed header, a
// payload of known fields, HMAC-SHA256 from a pool) instead of through
// reflection; verification, where hostile input arrives, goes through
// golang-jwt. TestMintMatchesGolangJWT keeps the two in agreement.
func (s *Signer) Mint(sess Session) (string, error) {
	if ValidateID("app", sess.App) != nil || !validCodeSyntax(sess.ID) || (sess.Kind != KindLink && sess.Kind != KindEmbed) {
		return "", ErrInvalidToken
	}
	payload := make([]byte, 0, 192)
	payload = append(payload, `{"iss":`...)
	payload = strconv.AppendQuote(payload, s.issuer)
	payload = append(payload, `,"aud":["`...)
	payload = append(payload, sess.App...)
	payload = append(payload, `"],"exp":`...)
	payload = strconv.AppendInt(payload, sess.ExpiresAt.Unix(), 10)
	payload = append(payload, `,"iat":`...)
	payload = strconv.AppendInt(payload, sess.IssuedAt.Unix(), 10)
	payload = append(payload, `,"jti":"`...)
	payload = append(payload, sess.ID...)
	payload = append(payload, `","ver":`...)
	payload = strconv.AppendUint(payload, sess.Version, 10)
	payload = append(payload, `,"knd":"`...)
	payload = append(payload, sess.Kind...)
	payload = append(payload, `","ren":`...)
	payload = strconv.AppendInt(payload, sess.RenewUntil.Unix(), 10)
	payload = append(payload, '}')

	enc := base64.RawURLEncoding
	n := len(jwtHeaderHS256) + 1 + enc.EncodedLen(len(payload))
	out := make([]byte, 0, n+1+enc.EncodedLen(sha256.Size))
	out = append(out, jwtHeaderHS256...)
	out = append(out, '.')
	out = enc.AppendEncode(out, payload)
	mac := s.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(out)
	var sum [sha256.Size]byte
	mac.Sum(sum[:0])
	s.macs.Put(mac)
	out = append(out, '.')
	out = enc.AppendEncode(out, sum[:])
	return string(out), nil
}

// jwtHeaderHS256 is the encoded header {"alg":"HS256","typ":"JWT"}.
var jwtHeaderHS256 = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Verify checks a token fully: signature, algorithm, issuer, expiry and
// that its audience is exactly one app. It returns ErrExpired for a token
// that is good but past its exp, so the caller may offer renewal.
func (s *Signer) Verify(token string) (Session, error) {
	if len(token) > MaxTokenSize || !s.signatureMatches(token) {
		return Session{}, ErrInvalidToken
	}
	var c claims
	_, err := s.strict.ParseWithClaims(token, &c, s.keyFunc)
	if err != nil {
		// golang-jwt checks the signature before the claims, so an
		// expired token here is one this signer minted.
		if errors.Is(err, jwt.ErrTokenExpired) && c.Issuer == s.issuer {
			return Session{}, ErrExpired
		}
		return Session{}, ErrInvalidToken
	}
	if !s.now().Before(c.ExpiresAt.Time) {
		return Session{}, ErrExpired
	}
	return c.session()
}

// VerifyForRenewal checks a token's signature, algorithm, issuer and
// audience while ignoring its expiry, and requires the renewal bound to be
// in the future. It is only used to start a new session on a page load.
func (s *Signer) VerifyForRenewal(token string, now time.Time) (Session, error) {
	if len(token) > MaxTokenSize || !s.signatureMatches(token) {
		return Session{}, ErrInvalidToken
	}
	var c claims
	if _, err := s.loose.ParseWithClaims(token, &c, s.keyFunc); err != nil {
		return Session{}, ErrInvalidToken
	}
	if c.Issuer != s.issuer || c.ExpiresAt == nil || c.IssuedAt == nil {
		return Session{}, ErrInvalidToken
	}
	sess, err := c.session()
	if err != nil {
		return Session{}, err
	}
	if !now.Before(sess.RenewUntil) {
		return Session{}, ErrExpired
	}
	return sess, nil
}

func (s *Signer) keyFunc(*jwt.Token) (any, error) { return s.key, nil }

// signatureMatches checks a compact token's HMAC-SHA256 before anything
// of it is decoded (golang-jwt decodes the header and claims JSON first):
// a forged token costs one HMAC and no allocation. golang-jwt then checks
// it again, with the algorithm and claims, for the tokens that pass.
func (s *Signer) signatureMatches(token string) bool {
	dot := strings.LastIndexByte(token, '.')
	var enc [43]byte // base64url of 32 bytes, unpadded
	if dot < 0 || len(token)-dot-1 != len(enc) {
		return false
	}
	copy(enc[:], token[dot+1:])
	c := s.checks.Get().(*signatureCheck)
	defer s.checks.Put(c)
	if n, err := strictEncoding.Decode(c.sig[:], enc[:]); err != nil || n != len(c.sig) {
		return false
	}
	c.mac.Reset()
	for signed := token[:dot]; signed != ""; {
		n := copy(c.chunk[:], signed)
		c.mac.Write(c.chunk[:n])
		signed = signed[n:]
	}
	return hmac.Equal(c.mac.Sum(c.sum[:0]), c.sig[:])
}

// strictEncoding refuses a signature whose unused trailing bits are set:
// every token has one spelling, so one session cannot be sent as several
// tokens that each fill the verified-token cache.
var strictEncoding = base64.RawURLEncoding.Strict()

// signatureCheck holds what one signature check writes through the hash
// interface, pooled so that a check allocates nothing.
type signatureCheck struct {
	mac   hash.Hash
	chunk [256]byte
	sum   [sha256.Size]byte
	sig   [sha256.Size]byte
}

// Ref returns the session's pseudonymous reference: what the backend sees
// in X-Anonymous-Session and the placeholder. It identifies one session
// for correlation but cannot be turned back into the session id or used
// as a credential.
func (s *Signer) Ref(sessionID string) string {
	mac := s.refMacs.Get().(hash.Hash)
	mac.Reset()
	mac.Write([]byte(sessionID))
	var sum [sha256.Size]byte
	mac.Sum(sum[:0])
	s.refMacs.Put(mac)
	return hex.EncodeToString(sum[:12])
}

func (c *claims) session() (Session, error) {
	if len(c.Audience) != 1 || ValidateID("aud", c.Audience[0]) != nil || c.ID == "" || c.ExpiresAt == nil || c.IssuedAt == nil {
		return Session{}, ErrInvalidToken
	}
	switch c.Kind {
	case KindLink, KindEmbed:
	default:
		return Session{}, ErrInvalidToken
	}
	return Session{
		ID:         c.ID,
		App:        c.Audience[0],
		Kind:       c.Kind,
		Version:    c.Version,
		IssuedAt:   c.IssuedAt.Time,
		ExpiresAt:  c.ExpiresAt.Time,
		RenewUntil: time.Unix(c.RenewUntil, 0),
	}, nil
}
