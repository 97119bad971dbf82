package policy

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// accessCodeBytes is the entropy of an access code: 256 bits, well above the
// 128 the design asks for.
const accessCodeBytes = 32

// NewAccessCode returns a fresh access code from crypto/rand, URL-safe so
// it can sit in a link's fragment or a form field unescaped.
func NewAccessCode() string {
	return randomToken(accessCodeBytes)
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms; if it did,
		// continuing would hand out guessable secrets.
		panic("policy: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// CodeMatches compares a presented access code with the app's in constant
// time. Both are hashed first so that neither the content nor the length
// of the real code leaks through timing.
func CodeMatches(presented, actual string) bool {
	if actual == "" {
		return false
	}
	a := sha256.Sum256([]byte(presented))
	b := sha256.Sum256([]byte(actual))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// validCodeSyntax reports whether s could be an access code at all, so that
// oversized or binary input is refused before any work.
func validCodeSyntax(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
