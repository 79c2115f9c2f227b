package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to an apikeys server. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	http      *http.Client
	token     string
	apiKey    string
	retries   int
	maxWait   time.Duration
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates management calls with a bearer JWT.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithAPIKey authenticates management calls with an API key holding
// api-keys:manage; it acts for its own organization only.
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithHTTPClient sets the HTTP client (default: one with a 30 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithRetries sets how many times an answer 503 is retried (default 2),
// each after the wait its Retry-After names, capped at maxWait (default
// 10 s; a longer Retry-After ends the retries). 0 turns retries off.
func WithRetries(n int, maxWait time.Duration) Option {
	return func(c *Client) { c.retries, c.maxWait = n, maxWait }
}

// WithUserAgent sets the User-Agent of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the server at baseURL (scheme and host, e.g.
// http://127.0.0.1:8080).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("apikeys client: base URL %q must be http(s)://host[:port]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, http: &http.Client{Timeout: 30 * time.Second}, retries: 2, maxWait: 10 * time.Second,
		userAgent: "apikeys-go-client"}
	for _, o := range opts {
		o(c)
	}
	if c.token != "" && c.apiKey != "" {
		return nil, errors.New("apikeys client: WithToken and WithAPIKey are exclusive: the server refuses both at once")
	}
	return c, nil
}

// Error is an error answer of the service: its status and the envelope's
// stable code, message and offending field.
type Error struct {
	Status     int
	Code       string // e.g. invalid_scope, not_found, key_revoked
	Message    string
	Field      string        // the offending field or parameter, when one is at fault
	RequestID  string        // X-Request-Id: what the server's logs and audit trail file the request under
	RetryAfter time.Duration // Retry-After of 429 and 503 answers
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	return msg
}

// HasCode reports whether err is an *Error with the given code.
func HasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// auth says which credentials a request carries.
type auth int

const (
	authManage auth = iota // the client's token or API key
	authNone
)

// call is one request to the service.
type call struct {
	method string
	path   string
	query  url.Values
	body   any
	header http.Header
	auth   auth
}

// do sends cl, retrying answers 503, and decodes a 2xx body into out (nil:
// discard). Any other answer is returned as an *Error.
func (c *Client) do(ctx context.Context, cl call, out any) (http.Header, error) {
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return nil, fmt.Errorf("apikeys client: encode request: %w", err)
		}
	}
	for attempt := 0; ; attempt++ {
		header, err := c.once(ctx, cl, payload, out)
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || attempt >= c.retries {
			return header, err
		}
		wait := apiErr.RetryAfter
		if wait <= 0 {
			wait = time.Second
		}
		if wait > c.maxWait {
			return header, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return header, err
		case <-t.C:
		}
	}
}

func (c *Client) once(ctx context.Context, cl call, payload []byte, out any) (http.Header, error) {
	u := *c.base
	// cl.path is escaped (keyPath): keep it as written.
	u.RawPath = c.base.EscapedPath() + cl.path
	var err error
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		return nil, fmt.Errorf("apikeys client: path %q: %w", cl.path, err)
	}
	u.RawQuery = cl.query.Encode()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("apikeys client: %w", err)
	}
	for name, values := range cl.header {
		req.Header[name] = values
	}
	if payload != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if cl.auth == authManage {
		switch {
		case c.token != "":
			req.Header.Set("Authorization", "Bearer "+c.token)
		case c.apiKey != "":
			req.Header.Set("X-API-Key", c.apiKey)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("apikeys client: %s %s: %w", cl.method, cl.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.Header, fmt.Errorf("apikeys client: %s %s: read answer: %w", cl.method, cl.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Header, errorOf(resp, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.Header, fmt.Errorf("apikeys client: %s %s: decode answer: %w", cl.method, cl.path, err)
		}
	}
	return resp.Header, nil
}

// errorOf reads an error answer; one without the envelope (a proxy's page)
// gets the code "http_<status>".
func errorOf(resp *http.Response, raw []byte) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message, e.Field = env.Error.Code, env.Error.Message, env.Error.Field
		return e
	}
	e.Code = "http_" + strconv.Itoa(resp.StatusCode)
	e.Message = http.StatusText(resp.StatusCode)
	return e
}

// keyPath is the path of key id, escaped.
func keyPath(id string) string { return "/api/v1/api-keys/" + url.PathEscape(id) }

// CreateKey creates a key. The answer's Secret is shown this once only.
func (c *Client) CreateKey(ctx context.Context, in CreateKeyRequest) (*IssuedKey, error) {
	var out IssuedKey
	if _, err := c.do(ctx, call{method: http.MethodPost, path: "/api/v1/api-keys", body: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListKeys returns one page of keys, newest first.
func (c *Client) ListKeys(ctx context.Context, o ListKeysOptions) (*KeyPage, error) {
	q := url.Values{}
	set(q, "organization_id", o.OrganizationID)
	setInt(q, "limit", o.Limit)
	set(q, "cursor", o.Cursor)
	if o.IncludeRevoked {
		q.Set("include_revoked", "true")
	}
	var out KeyPage
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/api-keys", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetKey returns one key. Another organization's key is not_found, like an
// unknown id.
func (c *Client) GetKey(ctx context.Context, id string) (*Key, error) {
	var out Key
	if _, err := c.do(ctx, call{method: http.MethodGet, path: keyPath(id)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateKey changes a key (a JSON merge patch) and returns it as stored.
// A revoked key is key_revoked; an expired key may be given a new expiry.
func (c *Client) UpdateKey(ctx context.Context, id string, in UpdateKeyRequest) (*Key, error) {
	var out Key
	h := http.Header{"Content-Type": {"application/merge-patch+json"}}
	if _, err := c.do(ctx, call{method: http.MethodPatch, path: keyPath(id), body: in, header: h}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateKey gives the key a new secret, shown this once only. The old one
// is refused from then on, or after o.GracePeriod.
func (c *Client) RotateKey(ctx context.Context, id string, o RotateOptions) (*RotatedKey, error) {
	var body any
	if o.GracePeriod > 0 {
		body = map[string]string{"grace_period": o.GracePeriod.String()}
	}
	var out RotatedKey
	if _, err := c.do(ctx, call{method: http.MethodPost, path: keyPath(id) + "/rotate", body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeKey revokes the key; revoking a revoked key succeeds too.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{method: http.MethodDelete, path: keyPath(id)}, nil)
	return err
}

// AuditLogs returns one page of the audit trail, newest first.
func (c *Client) AuditLogs(ctx context.Context, o AuditLogOptions) (*EventPage, error) {
	q := url.Values{}
	set(q, "organization_id", o.OrganizationID)
	set(q, "key_id", o.KeyID)
	set(q, "action", o.Action)
	set(q, "actor", o.Actor)
	if !o.Since.IsZero() {
		q.Set("since", o.Since.UTC().Format(time.RFC3339Nano))
	}
	if !o.Until.IsZero() {
		q.Set("until", o.Until.UTC().Format(time.RFC3339Nano))
	}
	if o.Unattributed {
		q.Set("unattributed", "true")
	}
	setInt(q, "limit", o.Limit)
	set(q, "cursor", o.Cursor)
	var out EventPage
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/audit-logs", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// KeyUsage returns one page of a key's recent uses (key.used and
// key.auth_failed events), newest first.
func (c *Client) KeyUsage(ctx context.Context, id string, o PageOptions) (*EventPage, error) {
	q := url.Values{}
	setInt(q, "limit", o.Limit)
	set(q, "cursor", o.Cursor)
	var out EventPage
	if _, err := c.do(ctx, call{method: http.MethodGet, path: keyPath(id) + "/usage", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VerifyRequest describes one verification: the secret presented and the
// scopes it must all hold, and optionally the request being authorized
// (recorded in apikeys' audit trail).
type VerifyRequest struct {
	Secret string
	Scopes []string
	Method string // the original request's method
	Path   string // the original request's path (no query string)
}

// Verify asks whether a key is valid and holds every scope named. A key
// that is not is an *Error: 401 invalid_api_key (one answer for missing,
// malformed, unknown, expired, revoked or rotated-away keys), 403
// insufficient_scope, 429 rate_limited or too_many_failed_attempts.
// Verify never sends the client's own credentials.
func (c *Client) Verify(ctx context.Context, in VerifyRequest) (*Identity, error) {
	q := url.Values{}
	for _, s := range in.Scopes {
		q.Add("scope", s)
	}
	h := http.Header{}
	if in.Secret != "" {
		h.Set("X-API-Key", in.Secret)
	}
	if in.Path != "" {
		h.Set("X-Original-URI", in.Path)
	}
	if in.Method != "" {
		h.Set("X-Original-Method", in.Method)
	}
	var out Identity
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/auth/verify", query: q, header: h, auth: authNone}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func set(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func setInt(q url.Values, name string, v int) {
	if v > 0 {
		q.Set(name, strconv.Itoa(v))
	}
}
