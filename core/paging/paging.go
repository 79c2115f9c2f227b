// Package paging holds the one rule for the size of a requested page:
// a default when none is asked for, a cap, and a refusal of nonsense.
package paging

import "github.com/agentauri/apikeys/core/apikey"

// Size returns how many items a page holds when n are requested: def when
// n is 0, max when n exceeds max, and an invalid_request error naming the
// limit parameter when n is negative.
func Size(n, def, max int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n < 0:
		return 0, apikey.Invalid("limit", "limit must be a positive integer")
	case n > max:
		return max, nil
	}
	return n, nil
}
