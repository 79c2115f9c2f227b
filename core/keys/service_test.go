package keys

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/ratelimit"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

type fixture struct {
	svc    *Service
	limits *ratelimit.Limiter
	store  *memStore
	hasher *fakeHasher
	cache  *mapCache
	usage  *recorder
	clock  *fakeClock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: newMemStore(), hasher: &fakeHasher{}, cache: newMapCache(), usage: &recorder{},
		clock: &fakeClock{t: time.Date(2030, 1, 15, 10, 0, 0, 123456789, time.UTC)}}
	f.limits = newLimiter(t, f.clock, 100)
	svc, err := New(f.deps(f.cache))
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

var (
	alice = apikey.Principal{Subject: "user_1", Organizations: []string{"org_123"}}
	ctx   = context.Background()
)

func (f *fixture) create(t *testing.T, p apikey.Principal, scopes ...string) ports.Issued {
	t.Helper()
	iss, err := f.svc.Create(ctx, p, ports.CreateInput{Name: "Production Webhook Server", OrganizationID: "org_123", Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// deps are the service's dependencies over the fixture's fakes, with cache.
func (f *fixture) deps(cache ports.VerifyCache) Deps {
	return Deps{Store: f.store, Policies: f.store, Usage: f.usage, Hasher: f.hasher, Digester: hmacDigester{}, Cache: cache, Clock: f.clock,
		Entropy: rand.Reader, KeyLimits: f.limits, FailedAuth: f.limits, ManagementLimits: f.limits}
}

// elsewhere returns a second instance sharing the fixture's store, clock,
// hasher and usage recorder but not its cache, as another process would.
func (f *fixture) elsewhere(t *testing.T) *Service {
	t.Helper()
	svc, err := New(f.deps(newMapCache()))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// createElsewhere creates a key on another instance, so that this
// instance's cache has never seen it.
func (f *fixture) createElsewhere(t *testing.T, p apikey.Principal, scopes ...string) ports.Issued {
	t.Helper()
	iss, err := f.elsewhere(t).Create(ctx, p, ports.CreateInput{Name: "Production Webhook Server", OrganizationID: "org_123", Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// fieldCode returns the field and code of a validation error or a refusal.
func fieldCode(err error) (field, code string) {
	var ve *apikey.ValidationError
	var de *apikey.DeniedError
	switch {
	case errors.As(err, &ve):
		return ve.Field, ve.Code
	case errors.As(err, &de):
		return de.Field, de.Code
	}
	return "", ""
}

// verify verifies secret for scope (none when "") and records the
// verification, as a driving adapter does, with status 0.
func (f *fixture) verify(secret, scope string, req audit.Request) (ports.Verification, error) {
	v, err := f.svc.Verify(ctx, ports.VerifyInput{Secret: secret, Scopes: scopeList(scope), Request: req})
	if err != nil {
		return v, err
	}
	return v, f.svc.Record(ctx, v, 0)
}

// scopeList is the scope parameters of a query naming scope, or none.
func scopeList(scope string) []string {
	if scope == "" {
		return nil
	}
	return []string{scope}
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	_, err := New(Deps{})
	if err == nil || !strings.Contains(err.Error(), "Store") || !strings.Contains(err.Error(), "Entropy") {
		t.Fatalf("got %v", err)
	}
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read", "triggers:write", "events:read")
	k := iss.Key
	if !strings.HasPrefix(k.ID, "key_") || k.OrganizationID != "org_123" || k.Environment != apikey.EnvTest {
		t.Fatalf("key %+v", k)
	}
	if env, err := apikey.Parse(iss.Secret); err != nil || env != apikey.EnvTest {
		t.Fatalf("secret %q: %v", iss.Secret, err)
	}
	if k.Hash == iss.Secret || strings.Contains(k.Hash, iss.Secret) && !strings.HasPrefix(k.Hash, "fake$") {
		t.Fatal("hash is the secret")
	}
	if k.Lookup != (hmacDigester{}).Digest(iss.Secret) || k.Hint != apikey.Hint(iss.Secret) {
		t.Fatal("lookup or hint wrong")
	}
	if !k.CreatedAt.Equal(f.clock.Now().Truncate(time.Microsecond)) || k.LastUsedAt != nil {
		t.Fatalf("times %v %v", k.CreatedAt, k.LastUsedAt)
	}
	evs := f.store.events(t, "org_123")
	if len(evs) != 1 || evs[0].Action != audit.ActionKeyCreated || evs[0].Actor != "user:user_1" {
		t.Fatalf("events %+v", evs)
	}
	d := evs[0].Details
	if fmt.Sprint(d["scopes"]) != "[triggers:read triggers:write events:read]" || d["name"] != "Production Webhook Server" {
		t.Fatalf("details %v", d)
	}
	for _, v := range d {
		if strings.Contains(fmt.Sprint(v), iss.Secret) {
			t.Fatal("secret in audit details")
		}
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	past := f.clock.Now().Add(-time.Minute)
	cases := []struct {
		in    ports.CreateInput
		field string
		code  string
	}{
		{ports.CreateInput{Name: "", OrganizationID: "org_123", Scopes: []string{"events:read"}}, "name", "invalid_name"},
		{ports.CreateInput{Name: "   ", OrganizationID: "org_123", Scopes: []string{"events:read"}}, "name", "invalid_name"},
		{ports.CreateInput{Name: strings.Repeat("é", 101), OrganizationID: "org_123", Scopes: []string{"events:read"}}, "name", "invalid_name"},
		{ports.CreateInput{Name: "a\x00b", OrganizationID: "org_123", Scopes: []string{"events:read"}}, "name", "invalid_name"},
		{ports.CreateInput{Name: "\xff", OrganizationID: "org_123", Scopes: []string{"events:read"}}, "name", "invalid_name"},
		{ports.CreateInput{Name: "x", OrganizationID: "org_123"}, "scopes", "invalid_request"},
		{ports.CreateInput{Name: "x", OrganizationID: "org_123", Scopes: []string{}}, "scopes", "invalid_scope"},
		{ports.CreateInput{Name: "x", OrganizationID: "org_123", Scopes: []string{"triggers:read", "triggers:admin"}}, "scopes[1]", "invalid_scope"},
		{ports.CreateInput{Name: "x", OrganizationID: "org_123", Scopes: []string{"events:read"}, Environment: "prod"}, "environment", "invalid_environment"},
		{ports.CreateInput{Name: "x", OrganizationID: "org_123", Scopes: []string{"events:read"}, ExpiresAt: &past}, "expires_at", "invalid_expires_at"},
		{ports.CreateInput{Name: "x", OrganizationID: "org_999", Scopes: []string{"events:read"}}, "organization_id", "forbidden_organization"},
	}
	for i, c := range cases {
		_, err := f.svc.Create(ctx, alice, c.in)
		if field, code := fieldCode(err); field != c.field || code != c.code {
			t.Errorf("case %d: got %v, want field %s code %s", i, err, c.field, c.code)
		}
	}
	if n := f.hasher.hashes.Load(); n != 0 {
		t.Fatalf("bad input ran Argon2id %d times", n)
	}
	// 100 characters of emoji is fine; the organization defaults to the only one.
	iss, err := f.svc.Create(ctx, alice, ports.CreateInput{Name: strings.Repeat("🔑", 100), Scopes: []string{"events:read"}, Environment: "live"})
	if err != nil || iss.Key.OrganizationID != "org_123" || !strings.HasPrefix(iss.Secret, "sk_live_") {
		t.Fatalf("got %+v %v", iss.Key, err)
	}
	multi := apikey.Principal{Subject: "u", Organizations: []string{"a", "b"}}
	_, err = f.svc.Create(ctx, multi, ports.CreateInput{Name: "x", Scopes: []string{"events:read"}})
	var ve *apikey.ValidationError
	if !errors.As(err, &ve) || ve.Field != "organization_id" {
		t.Fatalf("want organization_id required, got %v", err)
	}
}

// TestKeyPrincipalCannotEscalate tries every subset of the six scopes as
// the caller's scopes against every subset requested.
func TestKeyPrincipalCannotEscalate(t *testing.T) {
	f := newFixture(t)
	all := apikey.AllScopes
	subset := func(mask int) []apikey.Scope {
		var out []apikey.Scope
		for i, s := range all {
			if mask&(1<<i) != 0 {
				out = append(out, s)
			}
		}
		return out
	}
	manageBit := 1 << 5
	for have := 0; have < 64; have++ {
		p := apikey.Principal{KeyID: "key_caller", Organizations: []string{"org_123"}, Scopes: subset(have)}
		for want := 1; want < 64; want++ {
			names := apikey.Scopes(subset(want)).Strings()
			_, err := f.svc.Create(ctx, p, ports.CreateInput{Name: "x", OrganizationID: "org_123", Scopes: names})
			allowed := have&manageBit != 0 && want&^have == 0
			var se *apikey.ScopeError
			if allowed && err != nil {
				t.Fatalf("have %v want %v: refused: %v", subset(have), names, err)
			}
			if !allowed && !errors.As(err, &se) {
				t.Fatalf("have %v want %v: got %v, want ScopeError", subset(have), names, err)
			}
		}
	}
}

func TestKeyPrincipalCannotRotateBroaderKey(t *testing.T) {
	f := newFixture(t)
	broad := f.create(t, alice, "triggers:write", "api-keys:manage")
	narrow := apikey.Principal{KeyID: "key_n", Organizations: []string{"org_123"}, Scopes: apikey.Scopes{apikey.ScopeAPIKeysManage}}
	var se *apikey.ScopeError
	if _, err := f.svc.Rotate(ctx, narrow, broad.Key.ID, ports.RotateInput{}); !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
	wide := apikey.Principal{KeyID: "key_w", Organizations: []string{"org_123"}, Scopes: apikey.Scopes{apikey.ScopeAPIKeysManage, apikey.ScopeTriggersWrite}}
	if _, err := f.svc.Rotate(ctx, wide, broad.Key.ID, ports.RotateInput{}); err != nil {
		t.Fatal(err)
	}
}

func TestOtherOrganizationIsNotFound(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "events:read")
	mallory := apikey.Principal{Subject: "user_2", Organizations: []string{"org_other"}}
	if _, err := f.svc.Get(ctx, mallory, iss.Key.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	if _, err := f.svc.Rotate(ctx, mallory, iss.Key.ID, ports.RotateInput{}); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := f.svc.Revoke(ctx, mallory, iss.Key.ID, audit.Request{}); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := f.svc.Get(ctx, mallory, "key_doesnotexist"); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	page, err := f.svc.List(ctx, mallory, ports.ListInput{})
	if err != nil || len(page.Keys) != 0 {
		t.Fatalf("list: %v %v", page, err)
	}
	k := apikey.Principal{KeyID: "key_k", Organizations: []string{"org_other"}, Scopes: apikey.Scopes{apikey.ScopeAPIKeysManage}}
	if _, err := f.svc.Get(ctx, k, iss.Key.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Fatalf("key principal get: %v", err)
	}
}

func TestManagementNeedsManageScope(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "events:read")
	p := apikey.Principal{KeyID: "key_r", Organizations: []string{"org_123"}, Scopes: apikey.Scopes{apikey.ScopeEventsRead}}
	var se *apikey.ScopeError
	if _, err := f.svc.Get(ctx, p, iss.Key.ID); !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
	if _, err := f.svc.List(ctx, p, ports.ListInput{}); !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
	if _, err := f.svc.Revoke(ctx, p, iss.Key.ID, audit.Request{}); !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
}

func TestListLimitsAndOrganizations(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 3; i++ {
		f.create(t, alice, "events:read")
	}
	page, err := f.svc.List(ctx, alice, ports.ListInput{Limit: 2})
	if err != nil || len(page.Keys) != 2 || page.Total != 3 {
		t.Fatalf("%+v %v", page, err)
	}
	page, err = f.svc.List(ctx, alice, ports.ListInput{Limit: 1000})
	if err != nil || len(page.Keys) != 3 {
		t.Fatalf("%+v %v", page, err)
	}
	var ve *apikey.ValidationError
	if _, err := f.svc.List(ctx, alice, ports.ListInput{Limit: -1}); !errors.As(err, &ve) || ve.Field != "limit" {
		t.Fatalf("got %v", err)
	}
	_, err = f.svc.List(ctx, alice, ports.ListInput{OrganizationID: "org_x"})
	if field, code := fieldCode(err); field != "organization_id" || code != "forbidden_organization" || !errors.Is(err, apikey.ErrForbidden) {
		t.Fatalf("got %v", err)
	}
}

func TestVerifyPaysArgon2OncePerKey(t *testing.T) {
	f := newFixture(t)
	iss := f.createElsewhere(t, alice, "triggers:read")
	for i := 0; i < 10; i++ {
		v, err := f.verify(iss.Secret, "triggers:read", audit.Request{Method: "GET", Path: "/x", ClientIP: "10.0.0.1"})
		if err != nil || v.Outcome != apikey.OutcomeOK || v.Key.KeyID != iss.Key.ID || v.Key.OrganizationID != "org_123" || v.CacheHit != (i > 0) {
			t.Fatalf("verify %d: %+v %v", i, v, err)
		}
	}
	if n := f.hasher.verifies.Load(); n != 1 {
		t.Fatalf("Argon2id ran %d times, want 1", n)
	}
	if n := f.store.lookups.Load(); n != 1 {
		t.Fatalf("store read %d times, want 1", n)
	}
	evs := f.usage.all()
	if len(evs) != 10 || evs[0].Action != audit.ActionKeyUsed || evs[0].Outcome != apikey.OutcomeOK || evs[0].KeyID != iss.Key.ID ||
		evs[0].Actor != "key:"+iss.Key.ID || evs[0].ClientIP != "10.0.0.1" || evs[0].Scope != "triggers:read" {
		t.Fatalf("events %+v", evs)
	}
}

func TestVerifyConcurrentFirstUseSharesOneArgon2(t *testing.T) {
	f := newFixture(t)
	f.hasher.delay = 20 * time.Millisecond
	iss := f.createElsewhere(t, alice, "triggers:read")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := f.hasher.verifies.Load(); n != 1 {
		t.Fatalf("Argon2id ran %d times, want 1", n)
	}
}

func TestVerifyRefusesWithoutArgon2(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	bad := iss.Secret[:20] + flip(iss.Secret[20]) + iss.Secret[21:]
	other, _ := apikey.Generate(rand.Reader, apikey.EnvTest)
	cases := []struct {
		secret  string
		outcome apikey.Outcome
		lookups int64
	}{
		{"", apikey.OutcomeMissing, 0},
		{"sk_test_short", apikey.OutcomeMalformed, 0},
		{bad, apikey.OutcomeChecksum, 0},
		{other, apikey.OutcomeUnknown, 1},
	}
	for _, c := range cases {
		before := f.store.lookups.Load()
		v, err := f.verify(c.secret, "", audit.Request{})
		if err != nil || v.Outcome != c.outcome || v.Key.KeyID != "" {
			t.Fatalf("%q: got %+v, %v; want outcome %s and no key", c.secret, v, err, c.outcome)
		}
		if got := f.store.lookups.Load() - before; got != c.lookups {
			t.Fatalf("%q: %d store reads, want %d", c.secret, got, c.lookups)
		}
	}
	if n := f.hasher.verifies.Load(); n != 0 {
		t.Fatalf("Argon2id ran %d times for bad keys", n)
	}
	// Failures that name no key are summarized: one event per outcome.
	if err := f.svc.FlushFailureSummaries(ctx); err != nil {
		t.Fatal(err)
	}
	byOutcome := map[apikey.Outcome]audit.Event{}
	for _, ev := range f.usage.all() {
		if ev.Action == audit.ActionKeyAuthFailed {
			byOutcome[ev.Outcome] = ev
		}
	}
	for _, c := range cases {
		ev, ok := byOutcome[c.outcome]
		if !ok || ev.Actor != "anonymous" || ev.KeyID != "" || ev.Details["count"] != int64(1) {
			t.Errorf("%s: summary %+v", c.outcome, ev)
		}
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestVerifyScopeAndUnknownScope(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	v, err := f.verify(iss.Secret, "triggers:write", audit.Request{})
	if err != nil || v.Outcome != apikey.OutcomeScopeDenied || !slices.Equal(v.Scopes, apikey.Scopes{apikey.ScopeTriggersWrite}) ||
		!slices.Equal(v.Missing, apikey.Scopes{apikey.ScopeTriggersWrite}) || v.Key.KeyID != iss.Key.ID {
		t.Fatalf("got %+v, %v", v, err)
	}
	evs := f.usage.all()
	if last := evs[len(evs)-1]; last.Outcome != apikey.OutcomeScopeDenied || last.KeyID != iss.Key.ID || last.Scope != "triggers:write" {
		t.Fatalf("event %+v", last)
	}
	var ve *apikey.ValidationError
	if _, err := f.svc.Verify(ctx, ports.VerifyInput{Secret: iss.Secret, Scopes: []string{"triggers:admin"}}); !errors.As(err, &ve) || ve.Field != "scope" {
		t.Fatalf("got %v", err)
	}
}

// TestVerifyRequiresEveryScope: several required scopes must all be held;
// the refusal names the missing ones (and only them) and the event records
// every scope required, in the documented order, each once. An empty or
// unknown name anywhere in the list refuses the whole request.
func TestVerifyRequiresEveryScope(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read", "events:read")
	for _, c := range []struct {
		scopes          []string
		outcome         apikey.Outcome
		scope           string // the event's scope field
		missing         apikey.Scopes
		detailsExpected bool
	}{
		{[]string{"triggers:read", "events:read"}, apikey.OutcomeOK, "triggers:read,events:read", nil, false},
		{[]string{"events:read", "triggers:read", "events:read"}, apikey.OutcomeOK, "triggers:read,events:read", nil, false},
		{[]string{"triggers:read", "triggers:write"}, apikey.OutcomeScopeDenied, "triggers:read,triggers:write",
			apikey.Scopes{apikey.ScopeTriggersWrite}, true},
		{[]string{"api-keys:manage", "events:read", "organizations:read"}, apikey.OutcomeScopeDenied,
			"events:read,organizations:read,api-keys:manage", apikey.Scopes{apikey.ScopeOrganizationsRead, apikey.ScopeAPIKeysManage}, true},
		{nil, apikey.OutcomeOK, "", nil, false},
	} {
		v, err := f.svc.Verify(ctx, ports.VerifyInput{Secret: iss.Secret, Scopes: c.scopes})
		if err != nil || v.Outcome != c.outcome || !slices.Equal(v.Missing, c.missing) {
			t.Fatalf("%v: %+v, %v", c.scopes, v, err)
		}
		if err := f.svc.Record(ctx, v, 0); err != nil {
			t.Fatal(err)
		}
		evs := f.usage.all()
		last := evs[len(evs)-1]
		if last.Scope != c.scope || last.Outcome != c.outcome {
			t.Errorf("%v: event scope %q outcome %s, want %q %s", c.scopes, last.Scope, last.Outcome, c.scope, c.outcome)
		}
		got, _ := last.Details["missing_scopes"].([]string)
		if (last.Details != nil) != c.detailsExpected || !slices.Equal(got, c.missing.Strings()) && c.detailsExpected {
			t.Errorf("%v: event details %v, want missing_scopes %v", c.scopes, last.Details, c.missing)
		}
	}
	before := len(f.usage.all())
	for _, bad := range [][]string{{""}, {"triggers:read", ""}, {"triggers:read", "triggers:admin"}, {"Triggers:Read"}, {"triggers:read,events:read"}} {
		var ve *apikey.ValidationError
		_, err := f.svc.Verify(ctx, ports.VerifyInput{Secret: iss.Secret, Scopes: bad})
		if !errors.As(err, &ve) || ve.Field != "scope" || ve.Code != "invalid_scope" {
			t.Errorf("%q: got %v, want invalid_scope on field scope", bad, err)
		}
	}
	if n := len(f.usage.all()); n != before {
		t.Errorf("refused requirements recorded %d events", n-before)
	}
}

func TestVerifyExpired(t *testing.T) {
	f := newFixture(t)
	exp := f.clock.Now().Add(time.Hour)
	iss, err := f.svc.Create(ctx, alice, ports.CreateInput{Name: "x", Scopes: []string{"events:read"}, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour) // cached entry must expire too
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeExpired {
		t.Fatalf("got %v", err)
	}
	f.cache.InvalidateKeys(iss.Key.ID) // and from the store
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeExpired {
		t.Fatalf("got %v", err)
	}
	evs := f.usage.all()
	if last := evs[len(evs)-1]; last.Outcome != apikey.OutcomeExpired || last.KeyID != iss.Key.ID || last.OrganizationID != "org_123" {
		t.Fatalf("event %+v", last)
	}
}

func TestRotateInvalidatesOldSecretImmediately(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read", "events:read")
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	rot, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{})
	if err != nil {
		t.Fatal(err)
	}
	if rot.Key.ID != iss.Key.ID || rot.Secret == iss.Secret || rot.Key.RotatedAt == nil || rot.Key.Scopes.Join(",") != "triggers:read,events:read" {
		t.Fatalf("rotated %+v", rot.Key)
	}
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeRotated || v.Key.KeyID != iss.Key.ID {
		t.Fatalf("old secret: %v %v, want rotated, attributed", v.Outcome, err)
	}
	if v, err := f.verify(rot.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK || v.Key.KeyID != iss.Key.ID {
		t.Fatalf("new secret: %v", err)
	}
	evs := f.store.events(t, "org_123")
	if last := evs[len(evs)-1]; last.Action != audit.ActionKeyRotated || last.KeyID != iss.Key.ID {
		t.Fatalf("event %+v", last)
	}
}

func TestRevokeIsImmediateAndIdempotent(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
		t.Fatal(err)
	}
	k, err := f.svc.Revoke(ctx, alice, iss.Key.ID, audit.Request{})
	if err != nil || k.RevokedAt == nil {
		t.Fatalf("%+v %v", k, err)
	}
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeRevoked {
		t.Fatalf("got %v", err)
	}
	if _, err := f.svc.Revoke(ctx, alice, iss.Key.ID, audit.Request{}); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	n := 0
	for _, e := range f.store.events(t, "org_123") {
		if e.Action == audit.ActionKeyRevoked {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d revoke events, want 1", n)
	}
	if _, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{}); !errors.Is(err, apikey.ErrRevoked) {
		t.Fatalf("rotate revoked: %v", err)
	}
}

// TestSyncInvalidationsSeesOtherInstances revokes a key behind the
// service's back, as another instance would, and checks the next poll
// drops it from this instance's cache.
func TestSyncInvalidationsSeesOtherInstances(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	at := f.clock.Now().UTC()
	ev := audit.Change(audit.Stamp{ID: "evt_elsewhere", Time: at}, audit.ActionKeyRevoked, "user:bob", "org_123", iss.Key.ID, audit.Request{}, nil)
	if _, err := f.store.RevokeKey(ctx, iss.Key.ID, at, ev); err != nil {
		t.Fatal(err)
	}
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeOK {
		t.Fatalf("before sync the cache still answers: %v", err)
	}
	if err := f.svc.SyncInvalidations(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := f.verify(iss.Secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeRevoked {
		t.Fatalf("after sync: %v", err)
	}
}

func TestVerifyFailsClosedWhenAuditUnavailable(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	f.usage.fail = errors.New("queue full")
	if _, err := f.verify(iss.Secret, "", audit.Request{}); !errors.Is(err, apikey.ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
}

func TestVerifyStoreDown(t *testing.T) {
	f := newFixture(t)
	iss := f.createElsewhere(t, alice, "triggers:read")
	f.store.mu.Lock()
	f.store.fail = fmt.Errorf("dial: %w", apikey.ErrUnavailable)
	f.store.mu.Unlock()
	if _, err := f.verify(iss.Secret, "", audit.Request{}); !errors.Is(err, apikey.ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
}

func TestRecordKeepsTheAnswerStatus(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "events:read")
	for _, c := range []struct {
		scope   string
		status  int
		outcome apikey.Outcome
	}{{"events:read", 200, apikey.OutcomeOK}, {"triggers:write", 403, apikey.OutcomeScopeDenied}, {"", 0, apikey.OutcomeOK}} {
		v, err := f.svc.Verify(ctx, ports.VerifyInput{Secret: iss.Secret, Scopes: scopeList(c.scope)})
		if err != nil || v.Outcome != c.outcome {
			t.Fatalf("scope %q: %+v, %v", c.scope, v, err)
		}
		if err := f.svc.Record(ctx, v, c.status); err != nil {
			t.Fatal(err)
		}
		evs := f.usage.all()
		if last := evs[len(evs)-1]; last.Status != c.status || last.Outcome != c.outcome || last.Scope != c.scope {
			t.Errorf("scope %q: event status %d outcome %s scope %q", c.scope, last.Status, last.Outcome, last.Scope)
		}
	}
	if err := f.svc.Record(ctx, ports.Verification{}, 500); err == nil || len(f.usage.all()) != 3 {
		t.Error("an undecided verification was recorded")
	}
}

// TestDigestMatchWithoutHashMatchIsUnknown: a stored key whose lookup
// digest matches the presented secret but whose Argon2id hash was made
// from another secret (a digest collision, or a row written by someone
// who knows the pepper but not the secret) does not authenticate it, and
// is not cached.
func TestDigestMatchWithoutHashMatchIsUnknown(t *testing.T) {
	f := newFixture(t)
	presented, _ := apikey.Generate(rand.Reader, apikey.EnvTest)
	other, _ := apikey.Generate(rand.Reader, apikey.EnvTest)
	hash, _ := f.hasher.Hash(ctx, other)
	at := f.clock.Now().UTC().Truncate(time.Microsecond)
	k := apikey.Key{ID: "key_forged", OrganizationID: "org_123", Name: "forged", Environment: apikey.EnvTest,
		Scopes: apikey.Scopes{apikey.ScopeEventsRead}, Hash: hash, Lookup: hmacDigester{}.Digest(presented),
		CreatedAt: at, UpdatedAt: at, Version: 1, CreatedBy: "user:mallory"}
	ev := audit.Change(audit.Stamp{ID: "evt_forged", Time: at}, audit.ActionKeyCreated, "user:mallory", "org_123", k.ID, audit.Request{}, nil)
	if err := f.store.Store.CreateKey(ctx, k, ev); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		v, err := f.verify(presented, "", audit.Request{})
		if err != nil || v.Outcome != apikey.OutcomeUnknown || v.Key.KeyID != "" || v.CacheHit {
			t.Fatalf("a digest match with another secret's hash: %+v, %v; want unknown", v, err)
		}
	}
	if n := f.hasher.verifies.Load(); n != 2 {
		t.Errorf("Argon2id compared %d times, want 2 (a refused secret is never cached)", n)
	}
}

// TestVerifyEnvironments: a route admitting only some environments refuses
// a valid key of another one as OutcomeEnvDenied, recorded under the key;
// a missing scope is reported first.
func TestVerifyEnvironments(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read") // a test key
	for _, c := range []struct {
		envs    []apikey.Environment
		scopes  []string
		outcome apikey.Outcome
	}{
		{nil, nil, apikey.OutcomeOK},
		{[]apikey.Environment{apikey.EnvTest}, nil, apikey.OutcomeOK},
		{[]apikey.Environment{apikey.EnvLive, apikey.EnvTest}, []string{"triggers:read"}, apikey.OutcomeOK},
		{[]apikey.Environment{apikey.EnvLive}, nil, apikey.OutcomeEnvDenied},
		{[]apikey.Environment{apikey.EnvLive}, []string{"events:read"}, apikey.OutcomeScopeDenied},
	} {
		v, err := f.svc.Verify(ctx, ports.VerifyInput{Secret: iss.Secret, Scopes: c.scopes, Environments: c.envs})
		if err != nil || v.Outcome != c.outcome || v.Key.KeyID != iss.Key.ID {
			t.Fatalf("%v %v: %+v, %v; want %s", c.envs, c.scopes, v, err, c.outcome)
		}
		if err := f.svc.Record(ctx, v, 403); err != nil {
			t.Fatal(err)
		}
		evs := f.usage.all()
		if last := evs[len(evs)-1]; last.Outcome != c.outcome || last.KeyID != iss.Key.ID {
			t.Fatalf("event %+v", last)
		}
	}
}
