// Package ginapikeys is the gin adapter of the apikeys Go client's
// middleware: a handler that lets through only requests whose X-API-Key
// apikeys verifies with the scopes a route needs.
//
//	v := client.NewVerifier(c, client.VerifierOptions{})
//	r.GET("/triggers", ginapikeys.Require(v, "triggers:read"), listTriggers)
//
//	func listTriggers(c *gin.Context) {
//		id := ginapikeys.Identity(c) // id.OrganizationID, id.KeyID, id.Scopes
//	}
//
// It is a module of its own so that users of the client who do not use
// gin do not depend on it.
package ginapikeys

import (
	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/client"
)

// ContextKey is the gin context key of the verified identity.
const ContextKey = "apikeys.identity"

// Require returns a gin handler that verifies the request's X-API-Key for
// every scope named: the identity is then in the gin context (Identity)
// and in the request's context (client.IdentityFrom); otherwise the
// Verifier's OnError answers and the chain stops.
func Require(v *client.Verifier, scopes ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := v.Check(c.Request, scopes...)
		if err != nil {
			v.Refuse(c.Writer, c.Request, err)
			c.Abort()
			return
		}
		c.Request = c.Request.WithContext(client.WithIdentity(c.Request.Context(), id))
		c.Set(ContextKey, id)
		c.Next()
	}
}

// Identity returns the identity Require verified, or nil.
func Identity(c *gin.Context) *client.Identity {
	id, _ := c.Get(ContextKey)
	out, _ := id.(*client.Identity)
	return out
}
