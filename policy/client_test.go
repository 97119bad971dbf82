package policy

import "testing"

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
		if got := ClientKey(tc.ip); got != tc.want {
			t.Errorf("ClientKey(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func TestClientKeyGroups(t *testing.T) {
	same := [][2]string{
		{"2001:db8:aa:bb::1", "2001:db8:aa:bb:1234:5678:9abc:def0"},
		{"192.0.2.7", "::ffff:192.0.2.7"},
	}
	for _, p := range same {
		if ClientKey(p[0]) != ClientKey(p[1]) {
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
		if ClientKey(p[0]) == ClientKey(p[1]) {
			t.Errorf("%s and %s are counted as one client, want apart", p[0], p[1])
		}
	}
}
