package netguard

import (
	"net/netip"
	"testing"
)

func TestRefusal(t *testing.T) {
	for addr, refused := range map[string]bool{
		"127.0.0.1": true, "::1": true, "10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true,
		"169.254.169.254": true, "fe80::1": true, "fd00::1": true, "0.0.0.0": true, "224.0.0.1": true,
		"100.64.0.1": true, "198.18.0.1": true, "240.0.0.1": true, "64:ff9b::7f00:1": true, "2002::1": true,
		"::ffff:10.0.0.1": true,
		"93.184.215.14":   false, "2606:2800:220:1::": false, "::ffff:93.184.215.14": false,
	} {
		if got := Refusal(netip.MustParseAddr(addr)) != ""; got != refused {
			t.Errorf("Refusal(%s) refused = %v, want %v", addr, got, refused)
		}
	}
}
