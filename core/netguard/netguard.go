// Package netguard decides which addresses the gateway may connect to on a tenant's
// behalf — webhook URLs, media URLs of sends — so that a tenant cannot make the gateway
// reach into its own network (server-side request forgery): public addresses only.
// Callers check the address actually dialled, after DNS, so a name that resolves to a
// private address is refused however it resolves.
package netguard

import "net/netip"

// blocked lists the non-public networks refused beyond what netip's predicates
// (loopback, private, link-local, multicast, unspecified) cover.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
}

// Refusal says why addr is not a public address ("loopback address", "private
// address", ...), or "" when it is one. IPv4-mapped IPv6 addresses are judged as the
// IPv4 address they carry.
func Refusal(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case addr.IsLoopback():
		return "loopback address"
	case addr.IsPrivate():
		return "private address"
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return "link-local address"
	case addr.IsUnspecified():
		return "unspecified address"
	case addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return "multicast address"
	}
	for _, n := range blocked {
		if n.Contains(addr) {
			return "reserved address (" + n.String() + ")"
		}
	}
	return ""
}
