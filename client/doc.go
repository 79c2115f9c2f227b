// Package client is the Go client of apikeys: a typed client for every
// endpoint of its HTTP API, and net/http middleware that verifies the
// X-API-Key of incoming requests against apikeys.
//
// The package depends on the standard library only; the gin adapter is the
// separate module github.com/agentauri/apikeys/client/ginapikeys.
//
// # Managing keys
//
// A Client acts with a bearer token (WithToken) or an API key holding
// api-keys:manage (WithAPIKey):
//
//	c, err := client.New("https://apikeys.internal", client.WithToken(os.Getenv("APIKEYS_TOKEN")))
//	issued, err := c.CreateKey(ctx, client.CreateKeyRequest{
//		Name:           "Production Webhook Server",
//		OrganizationID: "org_123",
//		Scopes:         []string{"triggers:read", "triggers:write", "events:read"},
//	})
//	// issued.Secret is shown this once: store it now.
//
// Every error the service answers is an *Error carrying the envelope's
// code and field:
//
//	var apiErr *client.Error
//	if errors.As(err, &apiErr) && apiErr.Code == "key_revoked" { ... }
//
// Answers 503 are retried (WithRetries), after the wait their Retry-After
// names.
//
// # Protecting a service
//
// A Verifier asks apikeys about the X-API-Key of each request, with a
// small cache:
//
//	v := client.NewVerifier(c, client.VerifierOptions{})
//	mux.Handle("/triggers", v.Require("triggers:read")(triggersHandler))
//
//	func triggersHandler(w http.ResponseWriter, r *http.Request) {
//		id, _ := client.IdentityFrom(r.Context())
//		// id.OrganizationID, id.KeyID, id.Scopes
//	}
//
// Positive answers are cached for VerifierOptions.CacheTTL (5 s by
// default): a key revoked or rotated in apikeys keeps working in this
// process for up to that long (the revocation delay), and the uses
// answered from the cache are neither audited by apikeys nor counted
// against the key's rate limit. Negative answers (401, 403) are cached for
// at most a second; 429 and 5xx answers are never cached.
package client
