package httpapi

import (
	"testing"

	"github.com/agentauri/apikeys/core/apikey"
)

// TestEveryDecidedOutcomeHasAStatus keeps verifyStatuses complete: an
// outcome the core can decide without a status would answer 500.
func TestEveryDecidedOutcomeHasAStatus(t *testing.T) {
	for _, o := range apikey.Outcomes {
		_, ok := verifyStatuses[o]
		if o.Decided() != ok {
			t.Errorf("outcome %s: decided %v, has a status %v", o, o.Decided(), ok)
		}
		if o.Unauthenticated() && verifyStatus(o) != 401 {
			t.Errorf("outcome %s does not authenticate but answers %d", o, verifyStatus(o))
		}
	}
}
