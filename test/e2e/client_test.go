package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/client"
)

// contractTransport checks every exchange of the Go client against
// api/openapi.yaml, as server.do does for the suite's own requests.
type contractTransport struct{ t *testing.T }

func (ct contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err := checkContract(req, body, resp.StatusCode, resp.Header, b); err != nil {
		ct.t.Errorf("Go client: %s %s: outside api/openapi.yaml: %v", req.Method, req.URL.Path, err)
	}
	return resp, nil
}

func goClient(t *testing.T, s *server, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithHTTPClient(&http.Client{Transport: contractTransport{t}, Timeout: 30 * time.Second})}, opts...)
	c, err := client.New(s.base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoClient drives every endpoint through the Go client, on every
// database: the client's requests and the server's answers both keep the
// contract, and the client reads every answer into its types.
func TestGoClient(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		ctx := context.Background()
		c := goClient(t, s, client.WithToken(s.token("user_1", "org_123")))

		expires := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
		issued, err := c.CreateKey(ctx, client.CreateKeyRequest{
			Name: "Production Webhook Server", OrganizationID: "org_123",
			Scopes:    []string{client.ScopeTriggersRead, client.ScopeEventsRead},
			ExpiresAt: &expires, RateLimit: &client.RateLimit{Limit: 100, Window: "1m"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if issued.Secret == "" || issued.ID == "" || issued.ExpiresAt == nil || !issued.ExpiresAt.Equal(expires) ||
			issued.RateLimit == nil || issued.RateLimit.Limit != 100 || issued.Environment != "test" {
			t.Fatalf("issued %+v", issued)
		}
		_, err = c.CreateKey(ctx, client.CreateKeyRequest{Name: "x", OrganizationID: "org_123", Scopes: []string{"triggers:admin"}})
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != "invalid_scope" || apiErr.Field != "scopes[0]" || apiErr.RequestID == "" {
			t.Errorf("an unknown scope: %#v", err)
		}

		id, err := c.Verify(ctx, client.VerifyRequest{Secret: issued.Secret, Scopes: []string{client.ScopeTriggersRead}})
		if err != nil || id.KeyID != issued.ID || id.OrganizationID != "org_123" || id.Budget == nil || id.Budget.Limit != 100 {
			t.Fatalf("verify: %+v %v", id, err)
		}
		if _, err := c.Verify(ctx, client.VerifyRequest{Secret: issued.Secret, Scopes: []string{client.ScopeTriggersWrite}}); !client.HasCode(err, "insufficient_scope") {
			t.Errorf("a missing scope: %v", err)
		}

		got, err := c.GetKey(ctx, issued.ID)
		if err != nil || got.Status != "active" || got.Name != "Production Webhook Server" {
			t.Fatalf("get: %+v %v", got, err)
		}
		renamed := "Webhook Server (EU)"
		updated, err := c.UpdateKey(ctx, issued.ID, client.UpdateKeyRequest{Name: &renamed, ClearRateLimit: true,
			Metadata: []byte(`{"team":"billing","plan":"pro"}`), IPAllowlist: []string{"127.0.0.1", "10.0.0.0/8"}})
		if err != nil || updated.Name != renamed || updated.RateLimit != nil || len(updated.IPAllowlist) != 2 || !strings.Contains(string(updated.Metadata), `"team":"billing"`) {
			t.Fatalf("update: %+v %v", updated, err)
		}
		updated, err = c.UpdateKey(ctx, issued.ID, client.UpdateKeyRequest{Metadata: []byte(`{"plan":null}`), ClearIPAllowlist: true})
		if err != nil || strings.Contains(string(updated.Metadata), "plan") || len(updated.IPAllowlist) != 0 || updated.Name != renamed {
			t.Fatalf("merge patch: %+v %v", updated, err)
		}
		if _, err := c.UpdateKey(ctx, issued.ID, client.UpdateKeyRequest{Scopes: []string{"nope:nope"}}); !client.HasCode(err, "invalid_scope") {
			t.Errorf("an update with an unknown scope: %v", err)
		}
		if _, err := c.GetKey(ctx, "key_doesnotexist"); !client.HasCode(err, "not_found") {
			t.Errorf("an unknown key: %v", err)
		}
		for i := range 2 {
			if _, err := c.CreateKey(ctx, client.CreateKeyRequest{Name: "more", OrganizationID: "org_123", Scopes: []string{client.ScopeEventsRead}}); err != nil {
				t.Fatal(i, err)
			}
		}
		page, err := c.ListKeys(ctx, client.ListKeysOptions{OrganizationID: "org_123", Limit: 2})
		if err != nil || len(page.Keys) != 2 || page.Total != 3 || page.NextCursor == nil {
			t.Fatalf("list: %+v %v", page, err)
		}
		rest, err := c.ListKeys(ctx, client.ListKeysOptions{OrganizationID: "org_123", Limit: 2, Cursor: *page.NextCursor})
		if err != nil || len(rest.Keys) != 1 || rest.NextCursor != nil || rest.Keys[0].ID != issued.ID {
			t.Fatalf("second page: %+v %v", rest, err)
		}

		rotated, err := c.RotateKey(ctx, issued.ID, client.RotateOptions{GracePeriod: time.Hour})
		if err != nil || rotated.ID != issued.ID || rotated.Secret == issued.Secret || rotated.RotatedAt == nil ||
			rotated.PreviousKeyHint == nil || *rotated.PreviousKeyHint != issued.KeyHint || rotated.PreviousKeyExpiresAt == nil {
			t.Fatalf("rotate with a grace period: %+v %v", rotated, err)
		}
		if old, err := c.Verify(ctx, client.VerifyRequest{Secret: issued.Secret}); err != nil || old.Secret != "previous" || old.SecretExpiresAt == nil {
			t.Errorf("the old secret within its grace period: %+v %v", old, err)
		}
		if cur, err := c.Verify(ctx, client.VerifyRequest{Secret: rotated.Secret}); err != nil || cur.Secret != "current" {
			t.Errorf("the new secret: %+v %v", cur, err)
		}
		again, err := c.RotateKey(ctx, issued.ID, client.RotateOptions{})
		if err != nil || again.PreviousKeyHint != nil {
			t.Fatalf("rotate without a grace period: %+v %v", again, err)
		}
		for _, old := range []string{issued.Secret, rotated.Secret} {
			if _, err := c.Verify(ctx, client.VerifyRequest{Secret: old}); !client.HasCode(err, "invalid_api_key") {
				t.Errorf("a rotated-away secret: %v", err)
			}
		}
		if err := c.RevokeKey(ctx, issued.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RotateKey(ctx, issued.ID, client.RotateOptions{}); !client.HasCode(err, "key_revoked") {
			t.Errorf("rotating a revoked key: %v", err)
		}
		if err := c.RevokeKey(ctx, issued.ID); err != nil {
			t.Errorf("revoking twice: %v", err)
		}
		all, err := c.ListKeys(ctx, client.ListKeysOptions{OrganizationID: "org_123", IncludeRevoked: true})
		if err != nil || all.Total != 3 {
			t.Fatalf("list with revoked: %+v %v", all, err)
		}

		eventually(t, 5*time.Second, "the audit trail has the key's life", func() bool {
			events, err := c.AuditLogs(ctx, client.AuditLogOptions{OrganizationID: "org_123", KeyID: issued.ID})
			if err != nil {
				t.Fatal(err)
			}
			actions := map[string]bool{}
			for _, ev := range events.Events {
				actions[ev.Action] = true
			}
			return actions["key.created"] && actions["key.updated"] && actions["key.rotated"] && actions["key.revoked"] && actions["key.used"]
		})
		eventually(t, 5*time.Second, "the key's uses are listed", func() bool {
			uses, err := c.KeyUsage(ctx, issued.ID, client.PageOptions{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			// used (both secrets of the grace period too), refused a
			// scope, and tried with rotated-away secrets
			seen := map[string]bool{}
			for _, ev := range uses.Events {
				if ev.Outcome != nil {
					seen[ev.Action+"/"+*ev.Outcome] = true
				}
			}
			return seen["key.used/ok"] && seen["key.auth_failed/scope_denied"] && seen["key.auth_failed/rotated"]
		})
		if _, err := c.AuditLogs(ctx, client.AuditLogOptions{Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour), Action: "key.created"}); err != nil {
			t.Errorf("audit logs in a time range: %v", err)
		}

		// An API key holding api-keys:manage manages its own organization.
		manager, err := c.CreateKey(ctx, client.CreateKeyRequest{Name: "manager", OrganizationID: "org_123",
			Scopes: []string{client.ScopeAPIKeysManage, client.ScopeEventsRead}})
		if err != nil {
			t.Fatal(err)
		}
		byKey := goClient(t, s, client.WithAPIKey(manager.Secret))
		if _, err := byKey.CreateKey(ctx, client.CreateKeyRequest{Name: "child", Scopes: []string{client.ScopeEventsRead}}); err != nil {
			t.Errorf("a key with api-keys:manage creating a narrower key: %v", err)
		}
		if _, err := byKey.CreateKey(ctx, client.CreateKeyRequest{Name: "wider", Scopes: []string{client.ScopeTriggersWrite}}); !client.HasCode(err, "insufficient_scope") {
			t.Errorf("a key creating a wider key: %v", err)
		}
	})
}

// TestGoMiddleware protects a handler with the client's middleware against
// the real server: the identity reaches the handler, a missing scope is
// 403, and a revoked key is refused once the cache's TTL has passed (the
// documented revocation delay), on every database.
func TestGoMiddleware(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		s := start(t, e)
		ctx := context.Background()
		admin := goClient(t, s, client.WithToken(s.token("user_1", "org_123")))
		issued, err := admin.CreateKey(ctx, client.CreateKeyRequest{Name: "svc", OrganizationID: "org_123", Scopes: []string{client.ScopeTriggersRead}})
		if err != nil {
			t.Fatal(err)
		}
		const ttl = 500 * time.Millisecond
		v := client.NewVerifier(goClient(t, s), client.VerifierOptions{CacheTTL: ttl})
		mux := http.NewServeMux()
		mux.Handle("GET /triggers", v.Require(client.ScopeTriggersRead)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := client.IdentityFrom(r.Context())
			if !ok {
				http.Error(w, "no identity", 500)
				return
			}
			_, _ = io.WriteString(w, id.OrganizationID+" "+id.KeyID)
		})))
		mux.Handle("POST /triggers", v.Require(client.ScopeTriggersWrite)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
		})))
		app := httptest.NewServer(mux)
		defer app.Close()
		call := func(method, secret string) (int, string) {
			req, _ := http.NewRequestWithContext(ctx, method, app.URL+"/triggers", nil)
			if secret != "" {
				req.Header.Set("X-API-Key", secret)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if st, body := call("GET", issued.Secret); st != 200 || body != "org_123 "+issued.ID {
			t.Fatalf("a valid key: %d %s", st, body)
		}
		if st, _ := call("POST", issued.Secret); st != 403 {
			t.Errorf("a missing scope: %d, want 403", st)
		}
		if st, _ := call("GET", ""); st != 401 {
			t.Errorf("no key: %d, want 401", st)
		}
		if st, _ := call("GET", otherLast(issued.Secret)); st != 401 {
			t.Errorf("a mistyped key: %d, want 401", st)
		}
		if err := admin.RevokeKey(ctx, issued.ID); err != nil {
			t.Fatal(err)
		}
		revokedAt := time.Now()
		eventually(t, ttl+2*time.Second, "the revoked key is refused", func() bool {
			st, _ := call("GET", issued.Secret)
			return st == 401
		})
		if waited := time.Since(revokedAt); waited > ttl+time.Second {
			t.Errorf("the revoked key worked for %s, cache TTL %s", waited, ttl)
		}
	})
}
