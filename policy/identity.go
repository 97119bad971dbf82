package policy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxIdentityTokenSize bounds a bearer token from the identity provider.
// IdP tokens carry more claims than session tokens, but anything longer is
// refused before parsing so that hostile input costs nothing.
const MaxIdentityTokenSize = 8 << 10

// Bounds of JWTIdentityConfig.Leeway. A few seconds of skew between the IdP
// and the gateway are normal; minutes of leeway would stretch every token's
// lifetime, so more than MaxIdentityLeeway is refused.
const (
	DefaultIdentityLeeway = 30 * time.Second
	MaxIdentityLeeway     = 5 * time.Minute
)

// minRSAKeyBits is the smallest RSA public key accepted: smaller moduli are
// within reach of a well-funded forger.
const minRSAKeyBits = 2048

// sessionIssuerPrefix starts the issuer of the gateway's own session tokens
// (see Tenant.Issuer). An identity issuer may not share it, so that a
// session token can never pass as a tenant user's identity, even if an
// operator reuses one secret for both.
const sessionIssuerPrefix = "anonymous-access/"

// Reasons a bearer token is refused. Each wraps ErrUnauthenticated and says
// why in general words only: never the token, nor a claim value from it,
// because these messages reach logs and clients.
var (
	errIdentityNoToken     = unauthenticated("no token")
	errIdentityTooLarge    = unauthenticated("token too large")
	errIdentityMalformed   = unauthenticated("malformed token")
	errIdentityAlgorithm   = unauthenticated("signing algorithm not allowed")
	errIdentitySignature   = unauthenticated("bad signature")
	errIdentityCritical    = unauthenticated("unsupported critical header")
	errIdentityClaims      = unauthenticated("malformed claims")
	errIdentityIssuer      = unauthenticated("wrong or missing issuer")
	errIdentityAudience    = unauthenticated("wrong or missing audience")
	errIdentityNoExpiry    = unauthenticated("token has no expiry")
	errIdentityExpired     = unauthenticated("token expired")
	errIdentityNotYetValid = unauthenticated("token not valid yet")
	errIdentityFromFuture  = unauthenticated("token issued in the future")
	errIdentityNoUser      = unauthenticated("no user claim")
	errIdentityUserType    = unauthenticated("user claim is not a string")
	errIdentityUser        = unauthenticated("user id not acceptable")
)

// identityReason is a fixed refusal reason that matches ErrUnauthenticated
// under errors.Is.
type identityReason struct{ reason string }

func unauthenticated(reason string) error { return &identityReason{reason} }

func (e *identityReason) Error() string { return ErrUnauthenticated.Error() + ": " + e.reason }
func (e *identityReason) Unwrap() error { return ErrUnauthenticated }

// JWTIdentityConfig says how tenant users' bearer tokens from the operator's
// identity provider are verified. Exactly one of HMACSecret and
// PublicKeyPEM is set.
type JWTIdentityConfig struct {
	// HMACSecret is the IdP's shared secret (at least 32 bytes); tokens
	// then use HS256, HS384 or HS512.
	HMACSecret []byte
	// PublicKeyPEM is the IdP's public key as one PEM block: PKIX
	// "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a "CERTIFICATE" holding it.
	// An RSA key (2048 bits or more) allows RS256/384/512 and
	// PS256/384/512, an ECDSA key only the ES algorithm of its curve, an
	// Ed25519 key EdDSA.
	PublicKeyPEM []byte
	// Issuer is the exact iss every token must carry. Required.
	Issuer string
	// Audience must be among a token's aud. Required.
	Audience string
	// UserClaim names the string claim holding the user id; "sub" when
	// empty.
	UserClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat:
	// DefaultIdentityLeeway when zero, at most MaxIdentityLeeway.
	Leeway time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// JWTIdentity verifies tenant users' bearer tokens against one key and one
// pinned algorithm family. It is safe for concurrent use.
type JWTIdentity struct {
	key       any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	algs      []string
	userClaim string
	parser    *jwt.Parser
}

// NewJWTIdentity checks cfg and returns the verifier it describes. Its
// errors are *InvalidError naming the config field, never its value.
func NewJWTIdentity(cfg JWTIdentityConfig) (*JWTIdentity, error) {
	j := &JWTIdentity{userClaim: cfg.UserClaim}
	hasSecret := len(cfg.HMACSecret) > 0
	if err := CheckJWTIdentitySettings(hasSecret, len(cfg.PublicKeyPEM) > 0, cfg.Issuer, cfg.Audience); err != nil {
		return nil, err
	}
	var err error
	if hasSecret {
		j.key, j.algs, err = hmacIdentityKey(cfg.HMACSecret)
	} else {
		j.key, j.algs, err = publicIdentityKey(cfg.PublicKeyPEM)
	}
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(cfg.Issuer, sessionIssuerPrefix) {
		return nil, invalid("issuer", "must not be the gateway's own session issuer")
	}
	if j.userClaim == "" {
		j.userClaim = "sub"
	}
	// A registered claim other than sub is the same for every user (iss,
	// aud), a time (exp, nbf, iat) or per token (jti): none names a user.
	switch j.userClaim {
	case "iss", "aud", "exp", "nbf", "iat", "jti":
		return nil, invalid("user_claim", "must be a claim naming the user, such as sub or email")
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = DefaultIdentityLeeway
	}
	if leeway < 0 || leeway > MaxIdentityLeeway {
		return nil, invalid("leeway", "must be between 0 and 5m")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	j.parser = jwt.NewParser(
		jwt.WithValidMethods(j.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
	)
	return j, nil
}

// CheckJWTIdentitySettings checks what can be known of a JWT identity's
// settings before its secret is resolved and its key file read: exactly
// one of an HMAC secret and a public key, an issuer and an audience.
// NewJWTIdentity checks them with the rest; a configuration parser calls
// it to refuse a configuration at once.
func CheckJWTIdentitySettings(hasSecret, hasKey bool, issuer, audience string) error {
	switch {
	case hasSecret == hasKey:
		return invalid("identity jwt", "needs exactly one of hmac_secret and public_key")
	case issuer == "":
		return invalid("issuer", "is required")
	case audience == "":
		return invalid("audience", "is required")
	}
	return nil
}

// hmacIdentityKey checks a shared secret. A secret holding a PEM block is
// refused: it is most likely the IdP's public key pasted in the wrong
// place, and a public value as HMAC key lets anyone mint tokens.
func hmacIdentityKey(secret []byte) (any, []string, error) {
	if len(secret) < MinSigningKeyLen {
		return nil, nil, invalid("hmac_secret", "must be at least 32 bytes")
	}
	if bytes.Contains(secret, []byte("-----BEGIN")) {
		return nil, nil, invalid("hmac_secret", "holds a PEM block; give a public key as public_key instead")
	}
	algs := []string{jwt.SigningMethodHS256.Alg(), jwt.SigningMethodHS384.Alg(), jwt.SigningMethodHS512.Alg()}
	return bytes.Clone(secret), algs, nil
}

// publicIdentityKey parses the one PEM block of a public key or
// certificate and derives the algorithms its key may verify. A
// certificate is only a container for the key here: its validity dates and
// chain are the IdP's business, not checked.
func publicIdentityKey(data []byte) (any, []string, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, nil, invalid("public_key", "holds no PEM block")
	}
	// A second block (a chain, a key next to its certificate) would leave
	// it unclear which key signs.
	if next, _ := pem.Decode(rest); next != nil {
		return nil, nil, invalid("public_key", "must hold exactly one PEM block")
	}
	var pub any
	var err error
	switch {
	case block.Type == "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case block.Type == "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case block.Type == "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return nil, nil, invalid("public_key", "is a private key; give the IdP's public key only")
	default:
		return nil, nil, invalid("public_key", "must be a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE PEM block")
	}
	if err != nil {
		return nil, nil, invalid("public_key", "cannot be parsed as a public key or certificate")
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSAKeyBits {
			return nil, nil, invalid("public_key", "RSA key must be at least 2048 bits")
		}
		return k, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		// One curve, one algorithm (RFC 7518 §3.4): a P-256 key verifies
		// ES256 only.
		switch k.Curve {
		case elliptic.P256():
			return k, []string{"ES256"}, nil
		case elliptic.P384():
			return k, []string{"ES384"}, nil
		case elliptic.P521():
			return k, []string{"ES512"}, nil
		}
		return nil, nil, invalid("public_key", "ECDSA key must be on P-256, P-384 or P-521")
	case ed25519.PublicKey:
		return k, []string{"EdDSA"}, nil
	}
	return nil, nil, invalid("public_key", "must be an RSA, ECDSA or Ed25519 key")
}

// Verify checks a bearer token fully (size, algorithm, signature, issuer,
// audience, exp, nbf, iat) and returns the user id from its user claim.
// Every error matches ErrUnauthenticated under errors.Is.
func (j *JWTIdentity) Verify(token string) (user string, err error) {
	if token == "" {
		return "", errIdentityNoToken
	}
	if len(token) > MaxIdentityTokenSize {
		return "", errIdentityTooLarge
	}
	claims := jwt.MapClaims{}
	tok, err := j.parser.ParseWithClaims(token, claims, j.keyFunc)
	if err != nil {
		return "", j.refusal(tok, claims, err)
	}
	// RFC 7515 §4.1.11: a token whose critical extensions are not
	// understood must be refused, and golang-jwt understands none.
	if _, ok := tok.Header["crit"]; ok {
		return "", errIdentityCritical
	}
	raw, ok := claims[j.userClaim]
	if !ok {
		return "", errIdentityNoUser
	}
	user, ok = raw.(string)
	if !ok {
		return "", errIdentityUserType
	}
	if ValidateUserID(j.userClaim, user) != nil {
		return "", errIdentityUser
	}
	return user, nil
}

// keyFunc hands out the key only to a method of the key's own family.
// WithValidMethods already pins the algorithms; this second check keeps a
// public key from ever reaching HMAC (alg confusion) should the list be
// widened by mistake.
func (j *JWTIdentity) keyFunc(t *jwt.Token) (any, error) {
	var ok bool
	switch j.key.(type) {
	case []byte:
		_, ok = t.Method.(*jwt.SigningMethodHMAC)
	case *rsa.PublicKey:
		switch t.Method.(type) {
		case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
			ok = true
		}
	case *ecdsa.PublicKey:
		_, ok = t.Method.(*jwt.SigningMethodECDSA)
	case ed25519.PublicKey:
		_, ok = t.Method.(*jwt.SigningMethodEd25519)
	}
	if !ok {
		return nil, errIdentityAlgorithm
	}
	return j.key, nil
}

// refusal turns golang-jwt's error into one of the fixed reasons. Its own
// messages may quote the token's alg header, so they are never passed on.
// Claims are only consulted for errors raised after the signature was
// verified, and only to pick the reason.
func (j *JWTIdentity) refusal(tok *jwt.Token, claims jwt.MapClaims, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errIdentityMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// A missing or unknown alg, or a method keyFunc refused.
		return errIdentityAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// golang-jwt reports an alg outside WithValidMethods as a bad
		// signature; tell the two apart.
		if tok == nil || tok.Method == nil || !slices.Contains(j.algs, tok.Method.Alg()) {
			return errIdentityAlgorithm
		}
		return errIdentitySignature
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		return errIdentityMalformed
	case errors.Is(err, jwt.ErrInvalidType):
		return errIdentityClaims
	}
	// Several claims may fail at once; who the token is for (issuer,
	// audience) is the more useful answer than when it was valid.
	missing := errors.Is(err, jwt.ErrTokenRequiredClaimMissing)
	iss, _ := claims.GetIssuer()
	aud, _ := claims.GetAudience()
	switch {
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), missing && iss == "":
		return errIdentityIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience), missing && (len(aud) == 0 || len(aud) == 1 && aud[0] == ""):
		return errIdentityAudience
	case missing:
		return errIdentityNoExpiry
	case errors.Is(err, jwt.ErrTokenExpired):
		return errIdentityExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errIdentityNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errIdentityFromFuture
	}
	return errIdentityClaims
}
