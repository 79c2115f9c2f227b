package audit

import "testing"

func TestUsageActor(t *testing.T) {
	for _, tc := range []struct {
		keyID, actor string
	}{
		{"key_8fJ2kQ0xLm3Zp9Ab", "key:key_8fJ2kQ0xLm3Zp9Ab"},
		{"", AnonymousActor},
	} {
		if got := UsageActor(tc.keyID); got != tc.actor {
			t.Errorf("UsageActor(%q) = %q, want %q", tc.keyID, got, tc.actor)
		}
		if id, ok := UsageKeyID(tc.actor); !ok || id != tc.keyID {
			t.Errorf("UsageKeyID(%q) = %q, %v; want %q, true", tc.actor, id, ok, tc.keyID)
		}
	}
	// Actors no usage event has.
	for _, actor := range []string{"user:alice", "key:", "system:purge", "", "Key:key_x", "anonymous "} {
		if id, ok := UsageKeyID(actor); ok {
			t.Errorf("UsageKeyID(%q) = %q, true; want false", actor, id)
		}
	}
}

func TestUsageActions(t *testing.T) {
	for _, a := range Actions {
		want := a == ActionKeyUsed || a == ActionKeyAuthFailed
		if a.Usage() != want {
			t.Errorf("%s.Usage() = %v, want %v", a, a.Usage(), want)
		}
	}
}
