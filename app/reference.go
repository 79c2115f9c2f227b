package app

import (
	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/api"
)

// apiReference is the published description of the API the service
// serves: the embedded OpenAPI document and the rendered reference.
func apiReference() (*httpapi.Reference, error) {
	js, err := api.JSON()
	if err != nil {
		return nil, err
	}
	return &httpapi.Reference{YAML: api.YAML(), JSON: js, Page: api.Docs()}, nil
}

// newHTTPAPI builds the HTTP API of o, serving the API reference too.
func newHTTPAPI(o httpapi.Options) (*httpapi.Server, error) {
	ref, err := apiReference()
	if err != nil {
		return nil, err
	}
	o.Reference = ref
	return httpapi.New(o)
}
