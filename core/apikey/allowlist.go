package apikey

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// MaxIPAllowlist is the most entries a key's IP allowlist may hold.
const MaxIPAllowlist = 100

// IPAllowlist is the networks a key may be used from: none means anywhere.
// Entries are normalized (the network address of each prefix, IPv4-mapped
// IPv6 addresses as IPv4), sorted, each once.
type IPAllowlist []netip.Prefix

// ParseIPAllowlist checks entries, each an IP address ("203.0.113.7",
// "2001:db8::1") or a network in CIDR notation ("203.0.113.0/24",
// "2001:db8::/32"), and returns them normalized: host bits cleared, an
// address as a one-address network, IPv4-mapped IPv6 as IPv4, duplicates
// dropped, sorted. At most MaxIPAllowlist entries; no zones. The error is a
// ValidationError with code invalid_ip_allowlist naming the entry.
func ParseIPAllowlist(entries []string) (IPAllowlist, error) {
	if len(entries) > MaxIPAllowlist {
		return nil, &ValidationError{Field: "ip_allowlist", Code: "invalid_ip_allowlist",
			Message: fmt.Sprintf("ip_allowlist must hold at most %d entries, got %d", MaxIPAllowlist, len(entries))}
	}
	out := make(IPAllowlist, 0, len(entries))
	for i, e := range entries {
		p, err := parseAllowed(strings.TrimSpace(e))
		if err != nil {
			return nil, &ValidationError{Field: fmt.Sprintf("ip_allowlist[%d]", i), Code: "invalid_ip_allowlist",
				Message: fmt.Sprintf("%q is not an IP address or CIDR network (e.g. 203.0.113.0/24, 2001:db8::/32)", e)}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefix)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseAllowed parses one allowlist entry into its normalized network.
func parseAllowed(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad address %q", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := p.Addr(); a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("bad IPv4-mapped network %q", s)
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Strings returns the entries in CIDR notation.
func (l IPAllowlist) Strings() []string {
	out := make([]string, len(l))
	for i, p := range l {
		out[i] = p.String()
	}
	return out
}

// Allows reports whether a key with this allowlist may be used from the
// client address addr: always when the list is empty; otherwise only when
// addr parses and falls in one of its networks (an IPv4-mapped IPv6
// address counts as its IPv4 address). An unknown or unparsable address is
// refused by a non-empty list.
func (l IPAllowlist) Allows(addr string) bool {
	if len(l) == 0 {
		return true
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
