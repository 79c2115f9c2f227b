package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/agentauri/apikeys/client"
)

// Create a key and show its secret once.
func ExampleClient_CreateKey() {
	c, err := client.New("http://127.0.0.1:8080", client.WithToken(os.Getenv("APIKEYS_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	issued, err := c.CreateKey(context.Background(), client.CreateKeyRequest{
		Name:           "Production Webhook Server",
		OrganizationID: "org_123",
		Scopes:         []string{client.ScopeTriggersRead, client.ScopeTriggersWrite, client.ScopeEventsRead},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(issued.ID, issued.Secret) // the secret is never shown again
}

// Page through every key of an organization.
func ExampleClient_ListKeys() {
	c, err := client.New("http://127.0.0.1:8080", client.WithToken(os.Getenv("APIKEYS_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	opts := client.ListKeysOptions{OrganizationID: "org_123", Limit: 100}
	for {
		page, err := c.ListKeys(context.Background(), opts)
		if err != nil {
			log.Fatal(err)
		}
		for _, k := range page.Keys {
			fmt.Println(k.ID, k.Name, k.Status)
		}
		if page.NextCursor == nil {
			break
		}
		opts.Cursor = *page.NextCursor
	}
}

// Tell the service's refusals apart by their stable code.
func ExampleError() {
	c, err := client.New("http://127.0.0.1:8080", client.WithToken(os.Getenv("APIKEYS_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.RotateKey(context.Background(), "key_abc123", client.RotateOptions{})
	var apiErr *client.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Code == "key_revoked":
		fmt.Println("the key is revoked: create a new one")
	case errors.As(err, &apiErr):
		fmt.Printf("refused: %s (field %q, request %s)\n", apiErr.Code, apiErr.Field, apiErr.RequestID)
	case err != nil:
		log.Fatal(err) // the service could not be reached
	}
}

// Protect a handler: only requests whose X-API-Key holds triggers:read
// reach it, with the key's identity in their context.
func ExampleVerifier_Require() {
	c, err := client.New("http://apikeys.internal:8080")
	if err != nil {
		log.Fatal(err)
	}
	v := client.NewVerifier(c, client.VerifierOptions{}) // positive answers cached 5 s
	mux := http.NewServeMux()
	mux.Handle("GET /triggers", v.Require(client.ScopeTriggersRead)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := client.IdentityFrom(r.Context())
		fmt.Fprintf(w, "triggers of %s\n", id.OrganizationID)
	})))
	log.Fatal(http.ListenAndServe("127.0.0.1:9000", mux))
}
