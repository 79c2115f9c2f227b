// Package ceiling is the handler of the benchmarks' ceiling: a bare gin
// route on GET /api/v1/auth/verify that answers a constant JSON body
// (shaped like the service's answer) to any request carrying X-API-Key,
// and a constant 401 to one without. No database, no hashing, no audit, no
// logging: whatever it reaches on a machine, under the same load generator,
// bounds what the service can reach there.
package ceiling

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// Body is the 200 answer, with fixed values.
var Body = []byte(`{"valid":true,"key_id":"key_0123456789abcdef","organization_id":"org_bench",` +
	`"environment":"test","scopes":["triggers:read","events:read"],"name":"bench key 0","expires_at":null}`)

var unauthorized = []byte(`{"error":{"code":"invalid_api_key","message":"the API key is missing, invalid, expired or revoked"}}`)

const contentType = "application/json; charset=utf-8"

// Handler returns the ceiling's gin engine: release mode, no middleware.
func Handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/api/v1/auth/verify", func(c *gin.Context) {
		if c.GetHeader("X-API-Key") == "" {
			c.Data(http.StatusUnauthorized, contentType, unauthorized)
			return
		}
		c.Data(http.StatusOK, contentType, Body)
	})
	r.GET("/healthz", func(c *gin.Context) { c.Data(http.StatusOK, contentType, []byte(`{"status":"ok"}`)) })
	return r
}
