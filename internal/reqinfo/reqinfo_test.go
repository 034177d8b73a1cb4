package reqinfo_test

import (
	"testing"

	"github.com/bulwark-shop/bulwark/internal/reqinfo"
)

func TestAddressKey(t *testing.T) {
	for _, tt := range []struct{ ip, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"}, // a mapped IPv4 is that IPv4
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"}, // the same line, the same budget
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	} {
		if got := reqinfo.AddressKey(tt.ip); got != tt.want {
			t.Errorf("AddressKey(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}
