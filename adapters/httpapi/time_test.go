package httpapi

import (
	"errors"
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
)

// TestTimesOutsideWhatStoresHoldAreRefused: an RFC 3339 time whose UTC
// value lies outside the years 1000-9999 (an offset can push
// 9999-12-31T23:59:59 into the year 10000) is refused with the field's
// code; MariaDB answered 500 and SQLite stored a key it could not read back
// (issue 11 §2).
func TestTimesOutsideWhatStoresHoldAreRefused(t *testing.T) {
	for v, ok := range map[string]bool{
		"2030-01-15T10:00:00Z": true, "9999-12-31T23:59:59.999999Z": true, "1000-01-01T00:00:00Z": true,
		"9999-12-31T23:59:59-23:59": false, "0000-01-01T00:00:00+23:59": false, "0999-12-31T23:59:59Z": false,
		"1000-01-01T00:00:00+00:01": false, "10000-01-01T00:00:00Z": false, "tomorrow": false,
	} {
		_, err := parseTimeField("expires_at", "invalid_expires_at", v)
		var ve *apikey.ValidationError
		switch {
		case ok && err != nil:
			t.Errorf("%s: %v", v, err)
		case !ok && (!errors.As(err, &ve) || ve.Code != "invalid_expires_at" || ve.Field != "expires_at"):
			t.Errorf("%s: %v, want invalid_expires_at", v, err)
		}
	}
}
