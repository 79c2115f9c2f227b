package quota

import "net/netip"

// IPv6ClientBits is the prefix length IPv6 clients are grouped by: one
// /64 is one client, because a single host or subscriber usually holds a
// whole /64 and can pick any address in it.
const IPv6ClientBits = 64

// Client is the unit failed authentications are counted by: one IPv4
// address or one IPv6 /64. It is made only by ClientOf and ParseClient, so
// the grouping is decided here, once, for every limiter backend. The zero
// Client stands for requests whose address is unknown; they share one
// budget.
type Client struct {
	p netip.Prefix
}

// ClientOf returns the client of addr: the address itself for IPv4 (an
// IPv4-mapped IPv6 address counts as its IPv4 address), its /64 for IPv6
// (the zone, if any, is ignored). An invalid addr gives the zero Client.
func ClientOf(addr netip.Addr) Client {
	if !addr.IsValid() {
		return Client{}
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return Client{p: netip.PrefixFrom(addr, 32)}
	}
	p, _ := addr.Prefix(IPv6ClientBits) // cannot fail for an IPv6 address and 64 bits
	return Client{p: p}
}

// ParseClient returns the client of a textual address such as the HTTP
// layer's resolved client IP ("203.0.113.7", "2001:db8::1", "fe80::1%eth0").
// Anything that is not an IP address gives the zero Client.
func ParseClient(ip string) Client {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return Client{}
	}
	return ClientOf(addr)
}

// IsZero reports whether c is the client of an unknown address.
func (c Client) IsZero() bool { return !c.p.IsValid() }

// String names the client: "203.0.113.7" for IPv4, "2001:db8:1:2::/64" for
// IPv6, "unknown" for the zero Client. Limiter backends use it as the
// budget's name, and it is what logs and audit summaries should show.
func (c Client) String() string {
	switch {
	case !c.p.IsValid():
		return "unknown"
	case c.p.Addr().Is4():
		return c.p.Addr().String()
	}
	return c.p.String()
}
