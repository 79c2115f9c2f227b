package keys

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// lookAlikes are organization ids a collation or an encoding could take
// for org_123: they must be refused before any store sees them.
var lookAlikes = []string{"org_123 ", " org_123", "org_123\u00a0", "org_123\x00", "org_123\u200b", "org_\u202e321",
	"\xc0\x80", strings.Repeat("o", 129)}

// TestOrganizationIDsRefusedBeforeTheStore: an organization id that breaks
// the syntax is 400 invalid_organization_id, even for a principal that
// claims it (a token adapter's bug must not reach the store), and the
// store is never asked.
func TestOrganizationIDsRefusedBeforeTheStore(t *testing.T) {
	f := newFixture(t)
	for _, org := range lookAlikes {
		p := apikey.Principal{Subject: "mallory", Organizations: []string{"org_123", org}}
		_, err := f.svc.Create(ctx, p, ports.CreateInput{Name: "x", OrganizationID: org, Scopes: []string{"events:read"}})
		wantCode(t, "create in "+org, err, "organization_id", "invalid_organization_id")
		_, err = f.svc.List(ctx, p, ports.ListInput{OrganizationID: org})
		wantCode(t, "list of "+org, err, "organization_id", "invalid_organization_id")
	}
	page, err := f.store.ListKeys(ctx, ports.KeyQuery{OrganizationIDs: lookAlikes, IncludeRevoked: true, Limit: 100})
	if err != nil || page.Total != 0 {
		t.Errorf("keys were created in look-alike organizations: %+v, %v", page, err)
	}
}

// TestCursorsRefusedBeforeTheStore: a cursor whose id is not a key id, or
// whose time no store can hold, is 400 invalid_cursor.
func TestCursorsRefusedBeforeTheStore(t *testing.T) {
	f := newFixture(t)
	ok := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []ports.Cursor{
		{Time: ok, ID: "key_abc\x00"}, {Time: ok, ID: "\xc0\x80"}, {Time: ok, ID: "evt_abc"}, {Time: ok, ID: ""},
		{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ID: "key_abc"},
		{Time: time.Date(999, 12, 31, 0, 0, 0, 0, time.UTC), ID: "key_abc"},
	} {
		_, err := f.svc.List(ctx, alice, ports.ListInput{After: &c})
		wantCode(t, "cursor "+c.ID+" "+c.Time.String(), err, "cursor", "invalid_cursor")
	}
	if _, err := f.svc.List(ctx, alice, ports.ListInput{After: &ports.Cursor{Time: ok, ID: "key_abc"}}); err != nil {
		t.Fatal(err)
	}
}

// TestKeyOfAnInvalidOrganizationAuthenticatesNobody: a stored key whose
// organization id the syntax refuses (written before it existed, or
// behind the service's back) is refused like an unknown key, so no
// principal ever carries such an organization id to a store.
func TestKeyOfAnInvalidOrganizationAuthenticatesNobody(t *testing.T) {
	f := newFixture(t)
	secret, _ := apikey.Generate(rand.Reader, apikey.EnvTest)
	hash, _ := f.hasher.Hash(ctx, secret)
	at := f.clock.Now().UTC().Truncate(time.Microsecond)
	k := apikey.Key{ID: "key_padded", OrganizationID: "org_123 ", Name: "legacy", Environment: apikey.EnvTest,
		Scopes: apikey.Scopes{apikey.ScopeAPIKeysManage}, Hash: hash, Lookup: hmacDigester{}.Digest(secret),
		CreatedAt: at, UpdatedAt: at, Version: 1, CreatedBy: "user:old"}
	ev := audit.Change(audit.Stamp{ID: "evt_padded", Time: at}, audit.ActionKeyCreated, "user:old", k.OrganizationID, k.ID, audit.Request{}, nil)
	if err := f.store.Store.CreateKey(ctx, k, ev); err != nil {
		t.Fatal(err)
	}
	v, err := f.verify(secret, "", audit.Request{})
	if err != nil || v.Outcome != apikey.OutcomeUnknown || v.Key.KeyID != "" || v.Key.OrganizationID != "" {
		t.Fatalf("a key of organization %q: %+v, %v; want unknown", k.OrganizationID, v, err)
	}
}

func wantCode(t *testing.T, what string, err error, field, code string) {
	t.Helper()
	var ve *apikey.ValidationError
	if !errors.As(err, &ve) || ve.Field != field || ve.Code != code {
		t.Errorf("%s: %v, want %s on %s", what, err, code, field)
	}
}

// TestValidateNameRefusesWhatReadsOtherwise: names empty after trimming,
// made only of invisible characters, holding bidirectional controls, or
// not valid UTF-8 (or carrying the U+FFFD a decoder left for such bytes)
// are invalid_name (issue 11 §2); ordinary names, emoji sequences with
// joiners and right-to-left scripts are kept.
func TestValidateNameRefusesWhatReadsOtherwise(t *testing.T) {
	bad := []string{"", " \t ", "\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u3164", "\u2800", "\u115f\u1160", "\u00a0\u2007",
		"\u0301", "\ufe0f", "evil\u202egnp.exe", "a\u202ab", "a\u2066b\u2069", "x\u061c", "\xff", "ok\xc0\x80", "a\ufffdb", "a\x00b", "a\nb"}
	for _, n := range bad {
		if _, err := ValidateName(n); err == nil {
			t.Errorf("ValidateName(%q) accepted it", n)
		} else {
			var ve *apikey.ValidationError
			if !errors.As(err, &ve) || ve.Code != "invalid_name" || ve.Field != "name" {
				t.Errorf("ValidateName(%q): %v", n, err)
			}
		}
	}
	for n, want := range map[string]string{"  Webhook  ": "Webhook", "鍵🔑": "鍵🔑", "👩\u200d💻 deploy": "👩\u200d💻 deploy",
		"مفتاح الإنتاج": "مفتاح الإنتاج", "e\u0301te\u0301": "e\u0301te\u0301", "a\u200bb": "a\u200bb"} {
		if got, err := ValidateName(n); err != nil || got != want {
			t.Errorf("ValidateName(%q) = %q, %v; want %q", n, got, err, want)
		}
	}
}
