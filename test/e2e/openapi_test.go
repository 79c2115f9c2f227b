package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/agentauri/apikeys/api"
)

// The contract: every request the suite sends through server.do (and the
// outage suite's client) and every answer it receives is checked against
// api/openapi.yaml with kin-openapi's openapi3filter, which validates
// OpenAPI 3.1 documents with a JSON Schema 2020-12 validator:
//   - the answer's status must be documented for the operation, its body
//     must match the schema (whose objects allow no undocumented field),
//     and every header it carries must be documented for that status
//     (besides Content-Type, Content-Length and Date);
//   - a request the document calls invalid must have been refused (4xx):
//     a document stricter than the server is as wrong as a looser one;
//   - a path or method the document lacks must be answered 404/405 with
//     the error envelope.
// A violation fails the test that made the request.

var (
	contractOnce   sync.Once
	contractDoc    *openapi3.T
	contractRouter routers.Router
	contractErr    error
)

func loadContract() (*openapi3.T, routers.Router, error) {
	contractOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(api.YAML())
		if err != nil {
			contractErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			contractErr = err
			return
		}
		doc.Servers = nil // match any host: each test server has its own port
		contractDoc = doc
		contractRouter, contractErr = gorillamux.NewRouter(doc)
		// The reference page and its scripts are checked as opaque text.
		openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
		openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.FileBodyDecoder)
		openapi3filter.RegisterBodyDecoder("application/openmetrics-text", openapi3filter.FileBodyDecoder)
	})
	return contractDoc, contractRouter, contractErr
}

// headersAnyAnswer are the headers of the HTTP layer itself, which the
// document does not list.
var headersAnyAnswer = []string{"Content-Type", "Content-Length", "Date"}

// checked holds the exchanges already found to keep the contract, by
// exchangeKey: the floods of the rate-limit tests repeat one exchange
// thousands of times, and a JSON Schema 2020-12 check costs about a
// millisecond.
var checked sync.Map

// exchangeKey identifies an exchange by everything the contract checks:
// the request, the status, the headers (Date aside, and the server's
// request id only by whether it has the documented shape) and the body.
func exchangeKey(req *http.Request, body []byte, status int, header http.Header, respBody []byte) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n%d\n", req.Method, req.URL, status)
	writeHeader := func(hd http.Header) {
		names := make([]string, 0, len(hd))
		for name := range hd {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			values := hd[name]
			switch {
			case name == "Date":
				continue
			case name == "X-Request-Id" && len(values) == 1 && serverRequestID.MatchString(values[0]):
				values = []string{"req_ shaped"}
			}
			fmt.Fprintf(h, "%s: %q\n", name, values)
		}
	}
	writeHeader(req.Header)
	fmt.Fprintf(h, "%d %s\n", len(body), body)
	writeHeader(header)
	h.Write(respBody)
	var key [32]byte
	h.Sum(key[:0])
	return key
}

// checkContract checks one exchange: req was sent with body, and answered
// status, header and respBody. It returns every violation found. With
// gateway set (a server in gateway mode), a request outside the document's
// routes was proxied to the upstream, whose answers the document does not
// describe: it is not checked.
func checkContract(req *http.Request, body []byte, status int, header http.Header, respBody []byte, gateway ...bool) error {
	proxied := len(gateway) > 0 && gateway[0]
	key := exchangeKey(req, body, status, header, respBody)
	if _, ok := checked.Load(key); ok {
		return nil
	}
	err := checkExchange(req, body, status, header, respBody, proxied)
	if err == nil {
		checked.Store(key, true)
	}
	return err
}

// forwardSubtree is the prefix of the forward-auth endpoint's subtree.
const forwardSubtree = "/api/v1/auth/forward/"

func checkExchange(req *http.Request, body []byte, status int, header http.Header, respBody []byte, proxied bool) error {
	doc, router, err := loadContract()
	if err != nil {
		return fmt.Errorf("api/openapi.yaml: %w", err)
	}
	req = req.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(body))
	if rest, ok := strings.CutPrefix(req.URL.Path, forwardSubtree); ok && rest != "" {
		// OpenAPI path parameters hold one segment; the forward-auth
		// endpoint's {rest} holds the original path, slashes and all.
		u := *req.URL
		u.Path, u.RawPath = forwardSubtree+"rest", ""
		req.URL = &u
	}
	route, params, err := router.FindRoute(req)
	if err != nil && proxied {
		return nil // gateway mode: the upstream's answer, not apikeys'
	}
	if err != nil {
		return undocumentedRoute(doc, err, status, header, respBody)
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
		MultiError:            true,
		IncludeResponseStatus: true,
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	var problems []error
	if reqErr := openapi3filter.ValidateRequest(context.Background(), in); reqErr != nil && status < 400 {
		problems = append(problems, fmt.Errorf("the document refuses a request the server answered %d: %w", status, reqErr))
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		problems = append(problems, fmt.Errorf("answer %d: %w", status, err))
	}
	if ref := route.Operation.Responses.Status(status); ref != nil && ref.Value != nil {
		if err := undocumentedHeaders(header, ref.Value.Headers); err != nil {
			problems = append(problems, fmt.Errorf("answer %d: %w", status, err))
		}
	}
	return errors.Join(problems...)
}

// undocumentedRoute checks the answer to a request the document has no
// operation for: 404 or 405 with the error envelope, nothing more.
func undocumentedRoute(doc *openapi3.T, findErr error, status int, header http.Header, body []byte) error {
	name := map[int]string{http.StatusNotFound: "NotFound", http.StatusMethodNotAllowed: "MethodNotAllowed"}[status]
	if name == "" {
		return fmt.Errorf("no operation in the document (%w), yet answered %d", findErr, status)
	}
	answer := doc.Components.Responses[name].Value
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("answer %d to an undocumented route is not JSON: %w", status, err)
	}
	schema := answer.Content.Get("application/json").Schema.Value
	if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("answer %d to an undocumented route: %w", status, err)
	}
	return undocumentedHeaders(header, answer.Headers)
}

// undocumentedHeaders names the headers of an answer the document does not
// declare for it.
func undocumentedHeaders(got http.Header, declared openapi3.Headers) error {
	var extra []string
	for name := range got {
		if slices.Contains(headersAnyAnswer, name) {
			continue
		}
		documented := false
		for d := range declared {
			if http.CanonicalHeaderKey(d) == name {
				documented = true
				break
			}
		}
		if !documented {
			extra = append(extra, name)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return fmt.Errorf("headers the document does not declare for this answer: %s", strings.Join(extra, ", "))
}
