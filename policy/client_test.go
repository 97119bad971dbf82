package policy

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.2", "192.0.2.2"},
		{"192.0.2.1:443", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"::FFFF:c000:0201", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:8080", "192.0.2.1"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:DB8:1:2:abcd::9", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"2001:db8:1:2::1%eth0", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"", ""},
		{"unknown", "unknown"},
		{"192.0.2.300", "192.0.2.300"},
		{"01.2.3.4", "01.2.3.4"},
	} {
		if got := clientKey(tc.ip); got != tc.want {
			t.Errorf("clientKey(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func TestClientKeyGroups(t *testing.T) {
	same := [][2]string{
		{"2001:db8:aa:bb::1", "2001:db8:aa:bb:1234:5678:9abc:def0"},
		{"192.0.2.7", "::ffff:192.0.2.7"},
	}
	for _, p := range same {
		if clientKey(p[0]) != clientKey(p[1]) {
			t.Errorf("%s and %s are counted apart, want one client", p[0], p[1])
		}
	}
	apart := [][2]string{
		{"2001:db8:aa:bb::1", "2001:db8:aa:bc::1"},
		{"2001:db8:aa:bb::1", "2001:db9:aa:bb::1"},
		{"192.0.2.7", "192.0.2.8"},
		{"192.0.2.7", "::c000:207"},
		{"unknown", ""},
	}
	for _, p := range apart {
		if clientKey(p[0]) == clientKey(p[1]) {
			t.Errorf("%s and %s are counted as one client, want apart", p[0], p[1])
		}
	}
}

// TestClientIDs checks the pseudonym stores count clients under: grouped
// as clientKey groups, keyed by the signing key, and holding no address.
func TestClientIDs(t *testing.T) {
	ids := newClientIDs([]byte("0123456789abcdef0123456789abcdef"))
	other := newClientIDs([]byte("another key, another tenant, 32+"))
	for _, p := range [][2]string{
		{"2001:db8:aa:bb::1", "[2001:db8:aa:bb:1234:5678:9abc:def0]:443"},
		{"192.0.2.7", "::ffff:192.0.2.7"},
		{"192.0.2.7", "192.0.2.7:8443"},
	} {
		if ids.of(p[0]) != ids.of(p[1]) {
			t.Errorf("%s and %s have two IDs, want one client", p[0], p[1])
		}
	}
	for _, p := range [][2]string{
		{"2001:db8:aa:bb::1", "2001:db8:aa:bc::1"},
		{"192.0.2.7", "192.0.2.8"},
		{"unknown", ""},
	} {
		if ids.of(p[0]) == ids.of(p[1]) {
			t.Errorf("%s and %s share an ID, want two clients", p[0], p[1])
		}
	}
	if ids.of("192.0.2.7") == other.of("192.0.2.7") {
		t.Error("two signing keys give a client the same ID")
	}
	// A string that spells the address's 16 bytes is not the address.
	a := netip.MustParseAddr("192.0.2.7").As16()
	if ids.of(string(a[:])) == ids.of("192.0.2.7") {
		t.Error("a non-address collides with an address")
	}
	id := ids.of("192.0.2.7")
	if bytes.Contains(id[:], []byte{192, 0, 2, 7}) {
		t.Errorf("ID %x holds the address", id)
	}
}

// TestClientIDAllocatesNothing: deriving a client's ID is on the path of
// every redemption.
func TestClientIDAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector")
	}
	ids := newClientIDs([]byte("0123456789abcdef0123456789abcdef"))
	for _, ip := range []string{"192.0.2.7", "2001:db8::1"} { // as Caddy gives them: no port
		if n := testing.AllocsPerRun(100, func() { _ = ids.of(ip) }); n != 0 {
			t.Errorf("%s: %v allocations", ip, n)
		}
	}
}
