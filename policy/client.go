package policy

import "net/netip"

// clientKey is the identity a client is counted under: an IPv4 address as
// it is, an IPv6 address by its /64, an IPv4-mapped IPv6 address as the
// IPv4 address. One subscriber is routinely handed a whole /64, so counting
// IPv6 addresses one by one would give a single attacker 2^64 clients. An
// address with a port is taken without it; anything that is not an address
// is its own key, unchanged.
func clientKey(ip string) string {
	a, ok := clientAddr(ip)
	if !ok {
		return ip
	}
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).String()
}

// clientAddr parses ip into the address it is counted under: IPv4, or the
// first address of its IPv6 /64, with no zone.
func clientAddr(ip string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		ap, err := netip.ParseAddrPort(ip)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	a = a.Unmap()
	if a.Is4() {
		return a, true
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return netip.Addr{}, false
	}
	return p.Addr(), true
}
