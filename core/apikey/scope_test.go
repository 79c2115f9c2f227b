package apikey

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes([]string{"events:read", "triggers:read", "events:read"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Scopes{ScopeEventsRead, ScopeTriggersRead}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	_, err = ParseScopes([]string{"triggers:read", "triggers:admin"})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "scopes[1]" || ve.Code != "invalid_scope" || ve.Message != `unknown scope "triggers:admin"` {
		t.Fatalf("got %#v", err)
	}
}

func TestAllSixScopes(t *testing.T) {
	want := []string{"triggers:read", "triggers:write", "events:read", "organizations:read", "organizations:write", "api-keys:manage"}
	if got := Scopes(AllScopes).Strings(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	for _, s := range want {
		if _, err := ParseScope(s); err != nil {
			t.Errorf("ParseScope(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "TRIGGERS:READ", "triggers:read ", "*", "admin"} {
		if _, err := ParseScope(s); err == nil {
			t.Errorf("ParseScope(%q) accepted", s)
		}
	}
}

func TestCoversAndMissing(t *testing.T) {
	have := Scopes{ScopeTriggersRead, ScopeAPIKeysManage}
	if !have.Covers([]Scope{ScopeTriggersRead}) || have.Covers([]Scope{ScopeTriggersRead, ScopeEventsRead}) {
		t.Fatal("Covers wrong")
	}
	if m := have.Missing([]Scope{ScopeEventsRead, ScopeTriggersRead}); !reflect.DeepEqual(m, []Scope{ScopeEventsRead}) {
		t.Fatalf("Missing = %v", m)
	}
	if !errors.Is(&ScopeError{}, ErrForbidden) {
		t.Fatal("ScopeError must be ErrForbidden")
	}
}

func TestKeyStatus(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Second)
	cases := []struct {
		k    Key
		want Status
	}{
		{Key{}, StatusActive},
		{Key{ExpiresAt: &future}, StatusActive},
		{Key{ExpiresAt: &now}, StatusExpired},
		{Key{ExpiresAt: &past}, StatusExpired},
		{Key{RevokedAt: &past, ExpiresAt: &future}, StatusRevoked},
		{Key{RevokedAt: &future, ExpiresAt: &past}, StatusRevoked},
	}
	for i, c := range cases {
		if got := c.k.Status(now); got != c.want {
			t.Errorf("%d: got %v want %v", i, got, c.want)
		}
	}
}

func TestPrincipal(t *testing.T) {
	u := Principal{Subject: "user_1", Organizations: []string{"org_a", "org_b"}}
	if u.Actor() != "user:user_1" || !u.MemberOf("org_b") || u.MemberOf("org_c") || u.IsKey() {
		t.Fatal("user principal wrong")
	}
	k := Principal{KeyID: "key_x", Organizations: []string{"org_a"}}
	if k.Actor() != "key:key_x" || !k.IsKey() {
		t.Fatal("key principal wrong")
	}
}
