package client

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// VerifierOptions configure a Verifier. Zero values take the defaults.
type VerifierOptions struct {
	// CacheTTL is how long a positive answer is reused (default 5 s; a
	// negative value turns the cache off). A key revoked or rotated in
	// apikeys keeps working in this process for up to CacheTTL, and uses
	// answered from the cache are neither audited by apikeys nor counted
	// against the key's rate limit.
	CacheTTL time.Duration
	// NegativeTTL is how long a refusal (401, 403) is reused: default and
	// at most 1 s, so a key created or granted a scope works within a
	// second. 429 and 5xx answers are never cached.
	NegativeTTL time.Duration
	// CacheSize bounds the answers kept (default 10000); the least
	// recently used go first.
	CacheSize int
	// OnError writes the answer to a request that is refused or cannot be
	// verified (default: WriteError).
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// Verifier checks the X-API-Key of incoming requests against apikeys and
// remembers its recent answers. It is safe for concurrent use.
type Verifier struct {
	c       *Client
	ttl     time.Duration
	negTTL  time.Duration
	size    int
	onError func(http.ResponseWriter, *http.Request, error)
	now     func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]*list.Element
	order   *list.List // front: most recently used
}

type cached struct {
	key     [32]byte
	id      *Identity
	err     error
	expires time.Time
}

// NewVerifier returns a Verifier asking apikeys through c. c's own
// credentials are not needed, and never sent with a verification.
func NewVerifier(c *Client, o VerifierOptions) *Verifier {
	v := &Verifier{c: c, ttl: o.CacheTTL, negTTL: o.NegativeTTL, size: o.CacheSize, onError: o.OnError, now: o.Now,
		entries: map[[32]byte]*list.Element{}, order: list.New()}
	if v.ttl == 0 {
		v.ttl = 5 * time.Second
	}
	if v.negTTL <= 0 || v.negTTL > time.Second {
		v.negTTL = time.Second
	}
	if v.size <= 0 {
		v.size = 10000
	}
	if v.onError == nil {
		v.onError = WriteError
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v
}

type identityKey struct{}

// IdentityFrom returns the identity the middleware verified for the
// request of ctx.
func IdentityFrom(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok
}

// WithIdentity returns ctx carrying id, as the middleware does.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// Require returns middleware letting through only requests whose X-API-Key
// is valid and holds every scope named; the identity is then in the
// request's context (IdentityFrom). Other requests get OnError's answer.
func (v *Verifier) Require(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := v.Check(r, scopes...)
			if err != nil {
				v.onError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}

// Refuse writes the answer to a request Check refused or could not
// verify, as Require does (VerifierOptions.OnError).
func (v *Verifier) Refuse(w http.ResponseWriter, r *http.Request, err error) { v.onError(w, r, err) }

// Check verifies the X-API-Key of r for scopes, from the cache when it
// can. A refusal is an *Error (401, 403, 429); an error of another type
// means apikeys could not be asked.
func (v *Verifier) Check(r *http.Request, scopes ...string) (*Identity, error) {
	secret := r.Header.Get("X-API-Key")
	if secret == "" {
		return nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_api_key", Message: "the API key is missing, invalid, expired or revoked"}
	}
	key := cacheKey(secret, scopes)
	if e, ok := v.lookup(key); ok {
		return e.id, e.err
	}
	id, err := v.c.Verify(r.Context(), VerifyRequest{Secret: secret, Scopes: scopes, Method: r.Method, Path: r.URL.Path})
	v.store(key, id, err)
	return id, err
}

// cacheKey identifies a secret and a set of scopes without keeping the
// secret.
func cacheKey(secret string, scopes []string) [32]byte {
	s := slices.Clone(scopes)
	slices.Sort(s)
	return sha256.Sum256([]byte(secret + "\x00" + strings.Join(slices.Compact(s), "\x00")))
}

// lookup returns the answer remembered for key, if it has not expired.
func (v *Verifier) lookup(key [32]byte) (*cached, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	el, ok := v.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cached)
	if !v.now().Before(e.expires) {
		v.order.Remove(el)
		delete(v.entries, key)
		return nil, false
	}
	v.order.MoveToFront(el)
	return e, true
}

// store remembers an answer: a positive one for ttl, a 401 or 403 for
// negTTL, nothing else.
func (v *Verifier) store(key [32]byte, id *Identity, err error) {
	ttl := v.ttl
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || (e.Status != http.StatusUnauthorized && e.Status != http.StatusForbidden) {
			return
		}
		ttl = v.negTTL
	}
	if ttl <= 0 {
		return
	}
	if id != nil {
		cp := *id
		cp.Budget = nil // a budget is true of one answer only
		id = &cp
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if el, ok := v.entries[key]; ok {
		v.order.Remove(el)
		delete(v.entries, key)
	}
	for v.order.Len() >= v.size {
		oldest := v.order.Back()
		v.order.Remove(oldest)
		delete(v.entries, oldest.Value.(*cached).key)
	}
	v.entries[key] = v.order.PushFront(&cached{key: key, id: id, err: err, expires: v.now().Add(ttl)})
}

// WriteError answers a request the Verifier refused or could not verify:
// apikeys' own status and error envelope (with Retry-After on 429), or 503
// service_unavailable when apikeys could not be asked.
func WriteError(w http.ResponseWriter, _ *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) || e.Status >= 500 {
		e = &Error{Status: http.StatusServiceUnavailable, Code: "service_unavailable",
			Message: "the API key cannot be verified now; retry shortly", RetryAfter: time.Second}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `ApiKey realm="apikeys", header="X-API-Key"`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Status)
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}
	_ = json.NewEncoder(w).Encode(struct {
		Error detail `json:"error"`
	}{detail{e.Code, e.Message, e.Field}})
}
