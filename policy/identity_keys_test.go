package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	idpIssuer   = "https://idp.example.com"
	idpAudience = "anonymous-access"
)

var (
	idpSecret      = []byte("idp shared secret, 32+ bytes long")
	idpOtherSecret = []byte("another idp secret, 32+ bytes too")
)

// idpKeySet holds the IdP keys of the tests, and a second key of each type
// to sign tokens the gateway must refuse.
type idpKeySet struct {
	rsa, rsaOther   *rsa.PrivateKey
	p256, p256Other *ecdsa.PrivateKey
	p384, p521      *ecdsa.PrivateKey
	ed, edOther     ed25519.PrivateKey
}

// idpKeys generates the key set once: RSA generation is slow under -race.
var idpKeys = sync.OnceValue(func() idpKeySet {
	must := func(k any, err error) any {
		if err != nil {
			panic(err)
		}
		return k
	}
	ec := func(c elliptic.Curve) *ecdsa.PrivateKey {
		return must(ecdsa.GenerateKey(c, rand.Reader)).(*ecdsa.PrivateKey)
	}
	ed := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return must(k, err).(ed25519.PrivateKey)
	}
	return idpKeySet{
		rsa:      must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey),
		rsaOther: must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey),
		p256:     ec(elliptic.P256()), p256Other: ec(elliptic.P256()),
		p384: ec(elliptic.P384()), p521: ec(elliptic.P521()),
		ed: ed(), edOther: ed(),
	}
})

// pkixPEM writes a public key the way most IdPs publish it.
func pkixPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// certPEM wraps a public key in a self-signed certificate, as some IdPs
// (SAML-minded ones) publish their signing key.
func certPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Unix(1_700_000_000, 0),
		NotAfter:     time.Unix(1_700_000_000, 0).Add(time.Hour), // long expired: dates are not checked
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// idpIdentity builds a verifier for the test IdP, failing the test on a
// config error.
func idpIdentity(t testing.TB, cfg JWTIdentityConfig) *JWTIdentity {
	t.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = idpIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = idpAudience
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return idpNow }
	}
	j, err := NewJWTIdentity(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestJWTIdentityKeyFormats(t *testing.T) {
	k := idpKeys()
	rsaAlgs := []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	for _, tc := range []struct {
		name string
		pem  []byte
		algs []string
	}{
		{"rsa pkix", pkixPEM(t, &k.rsa.PublicKey), rsaAlgs},
		{"rsa pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)}), rsaAlgs},
		{"rsa certificate", certPEM(t, k.rsa), rsaAlgs},
		{"p256", pkixPEM(t, &k.p256.PublicKey), []string{"ES256"}},
		{"p384", pkixPEM(t, &k.p384.PublicKey), []string{"ES384"}},
		{"p521", pkixPEM(t, &k.p521.PublicKey), []string{"ES512"}},
		{"p256 certificate", certPEM(t, k.p256), []string{"ES256"}},
		{"ed25519", pkixPEM(t, k.ed.Public()), []string{"EdDSA"}},
		{"ed25519 certificate", certPEM(t, k.ed), []string{"EdDSA"}},
		{"text before the block", append([]byte("IdP signing key, rotated 2026-01\n"), pkixPEM(t, k.ed.Public())...), []string{"EdDSA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := idpIdentity(t, JWTIdentityConfig{PublicKeyPEM: tc.pem})
			if !slices.Equal(j.algs, tc.algs) {
				t.Fatalf("pinned algorithms %v, want %v", j.algs, tc.algs)
			}
		})
	}
	hmac := idpIdentity(t, JWTIdentityConfig{HMACSecret: idpSecret})
	if !slices.Equal(hmac.algs, []string{"HS256", "HS384", "HS512"}) {
		t.Fatalf("HMAC pinned algorithms %v", hmac.algs)
	}
}

func TestNewJWTIdentityErrors(t *testing.T) {
	k := idpKeys()
	pub := pkixPEM(t, &k.rsa.PublicKey)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k.p256)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(k.p256)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	garbagePEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("not DER at all")})
	for _, tc := range []struct {
		name  string
		cfg   JWTIdentityConfig
		field string
	}{
		{"both keys", JWTIdentityConfig{HMACSecret: idpSecret, PublicKeyPEM: pub}, "identity jwt"},
		{"neither key", JWTIdentityConfig{}, "identity jwt"},
		{"short secret", JWTIdentityConfig{HMACSecret: []byte("31 bytes, one short of enough!!")}, "hmac_secret"},
		{"public key as secret", JWTIdentityConfig{HMACSecret: pub}, "hmac_secret"},
		{"not PEM", JWTIdentityConfig{PublicKeyPEM: []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA")}, "public_key"},
		{"PEM of garbage", JWTIdentityConfig{PublicKeyPEM: garbagePEM}, "public_key"},
		{"unknown block", JWTIdentityConfig{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "DH PARAMETERS", Bytes: []byte{1}})}, "public_key"},
		{"two blocks", JWTIdentityConfig{PublicKeyPEM: append(slices.Clone(pub), pkixPEM(t, &k.rsaOther.PublicKey)...)}, "public_key"},
		{"pkcs8 private key", JWTIdentityConfig{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})}, "public_key"},
		{"ec private key", JWTIdentityConfig{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})}, "public_key"},
		{"rsa private key", JWTIdentityConfig{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)})}, "public_key"},
		{"rsa 1024", JWTIdentityConfig{PublicKeyPEM: pkixPEM(t, &small.PublicKey)}, "public_key"},
		{"no issuer", JWTIdentityConfig{HMACSecret: idpSecret, Audience: idpAudience}, "issuer"},
		{"session issuer", JWTIdentityConfig{HMACSecret: idpSecret, Issuer: "anonymous-access/demo", Audience: idpAudience}, "issuer"},
		{"no audience", JWTIdentityConfig{HMACSecret: idpSecret, Issuer: idpIssuer}, "audience"},
		{"user claim aud", JWTIdentityConfig{HMACSecret: idpSecret, Issuer: idpIssuer, Audience: idpAudience, UserClaim: "aud"}, "user_claim"},
		{"leeway too long", JWTIdentityConfig{HMACSecret: idpSecret, Issuer: idpIssuer, Audience: idpAudience, Leeway: 6 * time.Minute}, "leeway"},
		{"negative leeway", JWTIdentityConfig{HMACSecret: idpSecret, Issuer: idpIssuer, Audience: idpAudience, Leeway: -time.Second}, "leeway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Issuer == "" && tc.field != "issuer" && tc.field != "audience" {
				tc.cfg.Issuer, tc.cfg.Audience = idpIssuer, idpAudience
			}
			j, err := NewJWTIdentity(tc.cfg)
			var ie *InvalidError
			if !errors.As(err, &ie) || j != nil {
				t.Fatalf("NewJWTIdentity = %v, %v; want an *InvalidError", j, err)
			}
			if ie.Field != tc.field {
				t.Fatalf("error %q names field %q, want %q", err, ie.Field, tc.field)
			}
			for _, secret := range [][]byte{tc.cfg.HMACSecret, tc.cfg.PublicKeyPEM} {
				if len(secret) > 0 && strings.Contains(err.Error(), string(secret)) {
					t.Fatalf("error %q echoes the configured key", err)
				}
			}
		})
	}
}

// TestJWTIdentityKeyFuncMatchesFamily checks the second line of defence
// against alg confusion: even past WithValidMethods, the key is handed only
// to a method of its own family.
func TestJWTIdentityKeyFuncMatchesFamily(t *testing.T) {
	k := idpKeys()
	for _, tc := range []struct {
		name    string
		id      *JWTIdentity
		allowed []jwt.SigningMethod
	}{
		{"hmac", idpIdentity(t, JWTIdentityConfig{HMACSecret: idpSecret}), []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS512}},
		{"rsa", idpIdentity(t, JWTIdentityConfig{PublicKeyPEM: pkixPEM(t, &k.rsa.PublicKey)}), []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodPS384}},
		{"ecdsa", idpIdentity(t, JWTIdentityConfig{PublicKeyPEM: pkixPEM(t, &k.p256.PublicKey)}), []jwt.SigningMethod{jwt.SigningMethodES256}},
		{"ed25519", idpIdentity(t, JWTIdentityConfig{PublicKeyPEM: pkixPEM(t, k.ed.Public())}), []jwt.SigningMethod{jwt.SigningMethodEdDSA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS512, jwt.SigningMethodRS256,
				jwt.SigningMethodPS384, jwt.SigningMethodES256, jwt.SigningMethodEdDSA, jwt.SigningMethodNone} {
				key, err := tc.id.keyFunc(&jwt.Token{Method: m})
				if want := slices.Contains(tc.allowed, m); want != (err == nil) || want != (key != nil) {
					t.Errorf("keyFunc(%s) = %T, %v; want key: %v", m.Alg(), key, err, want)
				}
			}
		})
	}
}
