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

// codeDigest is what an app's code is compared through; the tenant's view
// keeps it so a redemption hashes only the presented code.
func codeDigest(code string) [sha256.Size]byte { return sha256.Sum256([]byte(code)) }

// digestMatches compares a presented access code with an app's kept
// digest in constant time; hashing first means neither the content nor
// the length of the real code leaks through timing. With ok false (no such app, or it is off) it does the same work
// and fails.
func digestMatches(presented string, digest [sha256.Size]byte, ok bool) bool {
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(got[:], digest[:]) == 1 && ok
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
