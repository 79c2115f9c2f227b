package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Reference is the published description of the API, served as it is
// given: the OpenAPI document in YAML and JSON, and the rendered reference
// page with its scripts (index.html, and the assets it loads).
type Reference struct {
	YAML []byte // GET /api/v1/openapi.yaml
	JSON []byte // GET /api/v1/openapi.json
	// Page holds index.html (GET /docs) and the assets of DocsAssets
	// (GET /docs/{asset}).
	Page fs.FS
}

// DocsAssets are the files of Reference.Page served under /docs/, besides
// index.html; nothing else of Page is reachable.
var DocsAssets = []string{"init.js", "redoc.standalone.js"}

// docsCSP is the Content-Security-Policy of the rendered reference: only
// the service's own scripts run, and the page reaches nothing but the
// service. Styles may be inline because the renderer injects its own.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// document is one file served with an ETag.
type document struct {
	body        []byte
	contentType string
	etag        string
	page        bool // the HTML page: gets the CSP and framing headers
}

func newDocument(body []byte, contentType string) document {
	sum := sha256.Sum256(body)
	return document{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// referenceRoutes mounts the OpenAPI document and the rendered reference.
func (s *Server) referenceRoutes(r *gin.Engine, v1 *gin.RouterGroup, ref *Reference) error {
	if ref == nil {
		return nil
	}
	if len(ref.YAML) == 0 || len(ref.JSON) == 0 || ref.Page == nil {
		return fmt.Errorf("httpapi: Reference needs YAML, JSON and Page")
	}
	v1.GET("/openapi.json", serveDocument(newDocument(ref.JSON, "application/json; charset=utf-8")))
	v1.GET("/openapi.yaml", serveDocument(newDocument(ref.YAML, "application/yaml; charset=utf-8")))
	index, err := fs.ReadFile(ref.Page, "index.html")
	if err != nil {
		return fmt.Errorf("httpapi: reference page: %w", err)
	}
	page := newDocument(index, "text/html; charset=utf-8")
	page.page = true
	r.GET("/docs", serveDocument(page))
	assets := make(map[string]document, len(DocsAssets))
	for _, name := range DocsAssets {
		b, err := fs.ReadFile(ref.Page, name)
		if err != nil {
			return fmt.Errorf("httpapi: reference page: %w", err)
		}
		assets[name] = newDocument(b, "text/javascript; charset=utf-8")
	}
	r.GET("/docs/:asset", func(c *gin.Context) {
		d, ok := assets[c.Param("asset")]
		if !ok {
			abort(c, http.StatusNotFound, "not_found", "no such file", "")
			return
		}
		serveDocument(d)(c)
	})
	return nil
}

// serveDocument answers d, or 304 when the client holds its version.
func serveDocument(d document) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", d.etag)
		if c.GetHeader("If-None-Match") == d.etag {
			c.Status(http.StatusNotModified)
			return
		}
		h.Set("X-Content-Type-Options", "nosniff")
		if d.page {
			h.Set("Content-Security-Policy", docsCSP)
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
		}
		c.Data(http.StatusOK, d.contentType, d.body)
	}
}
