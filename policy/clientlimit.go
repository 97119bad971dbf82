package policy

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"io"
	"sync"
)

// ClientID is a client's pseudonym in a store: a keyed hash of what
// clientKey groups (an IPv4 address, an IPv6 /64). Stores count a client's
// live sessions under it, so neither the state file nor Redis ever holds a
// viewer's address, and a leaked store cannot be turned back into one
// without the tenant's signing key. Every instance of a tenant shares that
// key, so all of them give one client the same ID.
type ClientID [16]byte

// clientIDs derives ClientIDs: HMAC-SHA256 under a key derived from the
// signing key for this one use, so a ClientID says nothing about tokens
// and a session reference says nothing about clients.
type clientIDs struct {
	hashers sync.Pool // of *clientHasher
}

// clientHasher is what one derivation writes through the hash interface,
// pooled so that a derivation allocates nothing.
type clientHasher struct {
	mac hash.Hash
	in  [17]byte
	sum [sha256.Size]byte
}

func newClientIDs(signingKey []byte) *clientIDs {
	mac := hmac.New(sha256.New, signingKey)
	mac.Write([]byte("client-pseudonym"))
	key := mac.Sum(nil)
	return &clientIDs{hashers: sync.Pool{New: func() any { return &clientHasher{mac: hmac.New(sha256.New, key)} }}}
}

// of returns the ID of client (an address, with or without a port). The
// address is hashed in its grouped binary form, so the string clientKey
// would build is never made; anything that is not an address is its own
// client, kept apart from addresses by a leading byte.
func (c *clientIDs) of(client string) ClientID {
	h := c.hashers.Get().(*clientHasher)
	h.mac.Reset()
	if a, ok := clientAddr(client); ok {
		h.in[0] = 'a'
		b := a.As16()
		copy(h.in[1:], b[:])
		h.mac.Write(h.in[:])
	} else {
		h.in[0] = 's'
		h.mac.Write(h.in[:1])
		io.WriteString(h.mac, client)
	}
	var id ClientID
	copy(id[:], h.mac.Sum(h.sum[:0]))
	c.hashers.Put(h)
	return id
}
