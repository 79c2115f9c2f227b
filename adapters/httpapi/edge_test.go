package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/quota"
	"github.com/agentauri/apikeys/core/routes"
	"github.com/agentauri/apikeys/ports"
)

// Secrets the edgeKeys fake knows.
const (
	readKey    = "sk_test_READREADREADREADREADREADREAD" // triggers:read, test
	liveKey    = "sk_live_LIVELIVELIVELIVELIVELIVELIVE" // triggers:read, live
	revokedKey = "sk_test_REVOKEDREVOKEDREVOKEDREVOKE"
	spentKey   = "sk_test_SPENTSPENTSPENTSPENTSPENTSP" // budget spent
)

// edgeKeys decides verifications like the core would, for a few known
// secrets, and keeps what it was asked and what it recorded.
type edgeKeys struct {
	ports.KeyService
	mu        sync.Mutex
	inputs    []ports.VerifyInput
	recorded  []recorded
	err       error // Verify fails with it
	recordErr error // Record fails with it
}

type recorded struct {
	outcome apikey.Outcome
	status  int
	req     audit.Request
}

func (f *edgeKeys) Verify(_ context.Context, in ports.VerifyInput) (ports.Verification, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inputs = append(f.inputs, in)
	if f.err != nil {
		return ports.Verification{}, f.err
	}
	v := ports.Verification{Request: in.Request, Event: audit.Stamp{ID: "evt_1"}}
	k := apikey.Verified{KeyID: "key_read", OrganizationID: "org_1", Scopes: apikey.Scopes{apikey.ScopeTriggersRead}, Environment: apikey.EnvTest}
	switch in.Secret {
	case "":
		v.Outcome = apikey.OutcomeMissing
		return v, nil
	case readKey, spentKey:
	case liveKey:
		k.KeyID, k.Environment = "key_live", apikey.EnvLive
	case revokedKey:
		v.Outcome, v.Key = apikey.OutcomeRevoked, k
		return v, nil
	default:
		v.Outcome = apikey.OutcomeUnknown
		return v, nil
	}
	v.Key, v.Outcome = k, apikey.OutcomeOK
	for _, s := range in.Scopes {
		if !slices.Contains(k.Scopes, apikey.Scope(s)) {
			v.Missing = append(v.Missing, apikey.Scope(s))
		}
	}
	switch {
	case len(v.Missing) > 0:
		v.Outcome = apikey.OutcomeScopeDenied
	case len(in.Environments) > 0 && !slices.Contains(in.Environments, k.Environment):
		v.Outcome = apikey.OutcomeEnvDenied
	case in.Secret == spentKey:
		v.Outcome = apikey.OutcomeRateLimited
		v.Budget = quota.Decision{Limit: 10, RetryAfter: 3 * time.Second, Reset: 3 * time.Second}
	}
	return v, nil
}

func (f *edgeKeys) Record(_ context.Context, v ports.Verification, status int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded = append(f.recorded, recorded{v.Outcome, status, v.Request})
	return f.recordErr
}

func (f *edgeKeys) verifications() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.inputs)
}

func (f *edgeKeys) lastRecord(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.recorded) == 0 {
		t.Fatal("nothing recorded")
	}
	return f.recorded[len(f.recorded)-1]
}

// testPolicy is a policy of every kind of rule.
func testPolicy(t *testing.T) *routes.Policy {
	t.Helper()
	p, err := routes.New([]routes.Rule{
		{Methods: []string{"GET"}, Path: "/api/v1/status", Public: true},
		{Methods: []string{"GET"}, Path: "/api/v1/triggers/**", Scopes: []string{"triggers:read"}},
		{Methods: []string{"POST", "PUT", "PATCH", "DELETE"}, Path: "/api/v1/triggers/**", Scopes: []string{"triggers:write"}},
		{Methods: []string{"GET"}, Path: "/api/v1/live/**", Scopes: []string{}, Environments: []string{"live"}},
		{Methods: []string{"POST"}, Path: "/api/v1/echo", Scopes: []string{}},
	}, routes.DefaultDeny)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newEdgeServer(t *testing.T, keys *edgeKeys, o httpapi.Options) http.Handler {
	t.Helper()
	o.Keys, o.Tokens = keys, fakeTokens{}
	if o.Routes == nil {
		o.Routes = testPolicy(t)
	}
	s, err := httpapi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

var errDown = fmt.Errorf("store down: %w", apikey.ErrUnavailable)
