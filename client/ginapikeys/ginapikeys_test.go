package ginapikeys_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/client"
	"github.com/agentauri/apikeys/client/ginapikeys"
)

func TestRequire(t *testing.T) {
	apikeys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "good" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":"invalid_api_key","message":"bad"}}`)
			return
		}
		fmt.Fprint(w, `{"valid":true,"key_id":"key_1","organization_id":"org_1","environment":"test","scopes":["triggers:read"],"name":"n","expires_at":null}`)
	}))
	defer apikeys.Close()
	c, err := client.New(apikeys.URL)
	if err != nil {
		t.Fatal(err)
	}
	v := client.NewVerifier(c, client.VerifierOptions{})
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/triggers", ginapikeys.Require(v, "triggers:read"), func(c *gin.Context) {
		id := ginapikeys.Identity(c)
		fromReq, _ := client.IdentityFrom(c.Request.Context())
		if id == nil || fromReq != id {
			t.Error("the identity is not in both contexts")
			return
		}
		c.String(http.StatusOK, id.OrganizationID)
	})
	for secret, want := range map[string]int{"good": 200, "bad": 401, "": 401} {
		req := httptest.NewRequest("GET", "/triggers", nil)
		req.Header.Set("X-API-Key", secret)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != want || (want == 200 && rec.Body.String() != "org_1") {
			t.Errorf("%q: %d %s, want %d", secret, rec.Code, rec.Body, want)
		}
	}
}
