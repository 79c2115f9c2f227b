// Package api holds the published contract of apikeys: the OpenAPI 3.1
// document (openapi.yaml, the one description of every route) and the
// assets of the rendered reference served at /docs, embedded in the binary.
// The HTTP adapter serves what this package gives it; tests check the
// document against the routes and every answer of the running service.
package api

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"

	"go.yaml.in/yaml/v3"
)

//go:embed openapi.yaml
var openapiYAML []byte

//go:embed docs/index.html docs/init.js docs/redoc.standalone.js
var docs embed.FS

// YAML returns the OpenAPI document as written.
func YAML() []byte { return openapiYAML }

// JSON returns the OpenAPI document converted to JSON.
func JSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	doc, err := jsonValue(doc, "")
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return json.Marshal(doc)
}

// Docs returns the files of the rendered reference: index.html, init.js
// and the Redoc bundle it loads (redoc.standalone.js).
func Docs() fs.FS {
	sub, err := fs.Sub(docs, "docs")
	if err != nil {
		panic(err) // the directory is embedded above: it exists
	}
	return sub
}

// jsonValue turns what the YAML decoder made into values encoding/json
// writes as the same document, refusing mapping keys that are not strings
// (an unquoted 200 would otherwise be lost or reordered silently).
func jsonValue(v any, path string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			c, err := jsonValue(e, path+"/"+k)
			if err != nil {
				return nil, err
			}
			t[k] = c
		}
		return t, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%s: key %v is not a string: quote it", path, k)
			}
			c, err := jsonValue(e, path+"/"+ks)
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	case []any:
		for i, e := range t {
			c, err := jsonValue(e, fmt.Sprintf("%s/%d", path, i))
			if err != nil {
				return nil, err
			}
			t[i] = c
		}
		return t, nil
	}
	return v, nil
}
