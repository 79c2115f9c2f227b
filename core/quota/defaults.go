package quota

import (
	"fmt"
	"strings"

	"github.com/agentauri/apikeys/core/apikey"
)

// AnyOrganization is the KeyDefaults entry that applies to every
// organization without an entry of its own.
const AnyOrganization = "*"

// KeyDefaults holds the rate limit a new key gets when it is created
// without one, per organization id, with AnyOrganization as the fallback.
// The zero value has no defaults: keys are unlimited unless they say
// otherwise.
type KeyDefaults struct {
	byOrg map[string]apikey.RateLimit
}

// ParseKeyDefaults reads the setting's entries, each ORG=LIMIT/WINDOW,
// e.g. "org_123=100/1m" or "*=1000/1h". Organization ids are checked with
// apikey.ValidOrganizationID; an organization may appear once. The error
// names the offending entry.
func ParseKeyDefaults(entries []string) (KeyDefaults, error) {
	d := KeyDefaults{byOrg: make(map[string]apikey.RateLimit, len(entries))}
	for i, e := range entries {
		org, lim, ok := strings.Cut(strings.TrimSpace(e), "=")
		org = strings.TrimSpace(org)
		if !ok {
			return KeyDefaults{}, fmt.Errorf("entry %d (%q) must be ORGANIZATION=LIMIT/WINDOW, e.g. org_123=100/1m or *=1000/1h", i+1, e)
		}
		if org != AnyOrganization && !apikey.ValidOrganizationID(org) {
			return KeyDefaults{}, fmt.Errorf("entry %d (%q): %q is neither * nor an organization id", i+1, e, org)
		}
		if _, dup := d.byOrg[org]; dup {
			return KeyDefaults{}, fmt.Errorf("entry %d (%q): organization %s is listed twice", i+1, e, org)
		}
		r, err := apikey.ParseRateLimit(lim)
		if err != nil {
			return KeyDefaults{}, fmt.Errorf("entry %d (%q): %w", i+1, e, err)
		}
		d.byOrg[org] = r
	}
	return d, nil
}

// For returns the default rate limit of new keys of organization org: its
// own entry, else the AnyOrganization entry; ok is false when neither
// exists.
func (d KeyDefaults) For(org string) (r apikey.RateLimit, ok bool) {
	if r, ok = d.byOrg[org]; ok {
		return r, true
	}
	r, ok = d.byOrg[AnyOrganization]
	return r, ok
}

// Len returns the number of entries.
func (d KeyDefaults) Len() int { return len(d.byOrg) }
