package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"reflect"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

// TestDocumentIsValidOpenAPI31 loads the document as OpenAPI 3.1 and
// validates it, examples included (each must match its schema).
func TestDocumentIsValidOpenAPI31(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(YAML())
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() {
		t.Fatalf("openapi: %s, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatal(err)
	}
}

// TestJSONIsTheYAML checks that the JSON served is the YAML document,
// value for value.
func TestJSONIsTheYAML(t *testing.T) {
	js, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(js, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(YAML(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	// A JSON round trip of the YAML value gives the types encoding/json uses.
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, want) {
		t.Fatal("openapi.json differs from openapi.yaml")
	}
}

func TestJSONRefusesNonStringKeys(t *testing.T) {
	if _, err := jsonValue(map[any]any{200: "ok"}, ""); err == nil {
		t.Fatal("an unquoted status code key was accepted")
	}
}

// TestDocsAssets checks the page runs no inline script and loads the
// vendored Redoc bundle, at the version api/docs/README.md names.
func TestDocsAssets(t *testing.T) {
	page, err := fs.ReadFile(Docs(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(page, []byte("<script>")) || bytes.Contains(page, []byte("http://")) || bytes.Contains(page, []byte("https://")) {
		t.Error("index.html has an inline script or an absolute URL: the page must load only the service's own files")
	}
	js, err := fs.ReadFile(Docs(), "redoc.standalone.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js[:200], []byte("Version: 3.0.1")) {
		t.Errorf("redoc.standalone.js is not Redoc 3.0.1: %q", js[:200])
	}
	if _, err := fs.ReadFile(Docs(), "README.md"); err == nil {
		t.Error("the assets' README is embedded: only the served files should be")
	}
}
