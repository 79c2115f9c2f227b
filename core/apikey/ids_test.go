package apikey

import (
	"strings"
	"testing"
	"time"
)

func TestValidOrganizationID(t *testing.T) {
	good := []string{"org_123", "o", "A", "9", "org.a:b@c-d_e", strings.Repeat("a", 128)}
	bad := []string{"", "org_A ", " org_A", "org_A\u00a0", "org\x00A", "_org", "-org", ".org",
		"org/a", "org a", "org\ta", "orgé", strings.Repeat("a", 129), "org\u202eA", "org\u200bA", "org%00"}
	for _, s := range good {
		if !ValidOrganizationID(s) {
			t.Errorf("ValidOrganizationID(%q) = false, want true", s)
		}
	}
	for _, s := range bad {
		if ValidOrganizationID(s) {
			t.Errorf("ValidOrganizationID(%q) = true, want false", s)
		}
	}
	if e := InvalidOrganizationID("organization_id"); e.Code != "invalid_organization_id" || e.Field != "organization_id" {
		t.Fatalf("InvalidOrganizationID = %#v", e)
	}
}

func TestValidKeyID(t *testing.T) {
	good := []string{"key_8fJ2kQ0xLm3Zp9Ab", "key_x", "key_" + strings.Repeat("a", 60)}
	bad := []string{"", "key_", "key", "kex_abc", "key_abc ", "key_ab-c", "key_ab_c", "key_x\x00", "key_\u00e9",
		"KEY_abc", "key_" + strings.Repeat("a", 61), "key_abc%00"}
	for _, s := range good {
		if !ValidKeyID(s) {
			t.Errorf("ValidKeyID(%q) = false, want true", s)
		}
	}
	for _, s := range bad {
		if ValidKeyID(s) {
			t.Errorf("ValidKeyID(%q) = true, want false", s)
		}
	}
}

func TestValidSubject(t *testing.T) {
	good := []string{"user_1", "alice@example.com", "auth0|5f7c8ec7c33c6c004bbafe82", "Zoë Smith", strings.Repeat("é", 200)}
	bad := []string{"", "a\nb", "a\rb", "a\x00b", "a\tb", "a\u202eb", "a\u200bb", "a\u2028b", "\xff", strings.Repeat("a", 201)}
	for _, s := range good {
		if !ValidSubject(s) {
			t.Errorf("ValidSubject(%q) = false, want true", s)
		}
	}
	for _, s := range bad {
		if ValidSubject(s) {
			t.Errorf("ValidSubject(%q) = true, want false", s)
		}
	}
}

func TestValidEventIDActorAndTime(t *testing.T) {
	for s, want := range map[string]bool{"evt_0Ab9": true, "evt_": false, "key_abc": false, "evt_a\x00": false,
		"evt_" + strings.Repeat("a", 60): true, "evt_" + strings.Repeat("a", 61): false, "evt_a-b": false} {
		if ValidEventID(s) != want {
			t.Errorf("ValidEventID(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"user:alice": true, "key:key_abc": true, "user:kc:Zoë Smith": true,
		"": false, "user:\x00": false, "user:a\u202eb": false, "user:\xff": false, strings.Repeat("a", 256): false,
		strings.Repeat("é", 255): true} {
		if ValidActor(s) != want {
			t.Errorf("ValidActor(%q) = %v", s, !want)
		}
	}
	if e := InvalidKeyID("key_id"); e.Code != "invalid_key_id" || e.Field != "key_id" {
		t.Errorf("InvalidKeyID = %#v", e)
	}
	if e := InvalidActor("actor"); e.Code != "invalid_actor" || e.Field != "actor" {
		t.Errorf("InvalidActor = %#v", e)
	}
	for tm, want := range map[time.Time]bool{
		MinTime: true, MaxTime: true, MinTime.Add(-time.Microsecond): false, MaxTime.Add(time.Microsecond): false,
		MaxTime.Add(999 * time.Nanosecond): true, MinTime.Add(-time.Nanosecond): false,
		time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC): true, time.UnixMicro(1 << 62): false,
	} {
		if ValidTime(tm) != want {
			t.Errorf("ValidTime(%v) = %v", tm, !want)
		}
	}
}
