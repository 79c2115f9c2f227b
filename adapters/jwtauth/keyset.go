package jwtauth

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// MinRSABits is the smallest RSA key taken from a key set; smaller ones
// are skipped (RFC 8725 section 3.5, NIST SP 800-131A).
const MinRSABits = 2048

// keySet is the key set of one identity provider. It is fetched in the
// background every refresh interval, and on demand when a token names a
// kid it does not hold, at most once per minimum interval; a fetch in
// flight is shared by everyone who needs it. A failed fetch keeps the
// previous keys, which go on verifying until they are maxStale old.
type keySet struct {
	name      string
	issuer    string
	jwksURL   string // empty with discovery
	discovery bool
	allowHTTP bool

	client     *http.Client
	timeout    time.Duration
	refresh    time.Duration
	minRefresh time.Duration
	maxStale   time.Duration
	log        *slog.Logger
	now        func() time.Time

	state atomic.Pointer[keyState] // nil until the first successful fetch

	mu          sync.Mutex
	inflight    *fetchCall
	lastAttempt time.Time
	lastFailed  bool

	stop chan struct{}
	done chan struct{}
}

// keyState is one fetched key set.
type keyState struct {
	kf      keyfunc.Keyfunc
	count   int
	fetched time.Time
	print   [32]byte // digest of the public keys: proven tokens of another print are proven again
}

type fetchCall struct {
	done chan struct{}
	err  error
}

func (k *keySet) start() {
	k.stop, k.done = make(chan struct{}), make(chan struct{})
	go k.run()
}

// close stops the background refresh and waits for it.
func (k *keySet) close() {
	close(k.stop)
	<-k.done
}

// run fetches at once, then every refresh interval after a success and
// every minimum interval after a failure.
func (k *keySet) run() {
	defer close(k.done)
	for {
		call := k.fetchNow()
		select {
		case <-call.done:
		case <-k.stop:
			return
		}
		wait := k.refresh
		if call.err != nil {
			wait = k.minRefresh
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-k.stop:
			t.Stop()
			return
		}
	}
}

// fetchNow returns the fetch in flight, or starts one.
func (k *keySet) fetchNow() *fetchCall {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.startLocked()
}

// fetchAllowed returns the fetch in flight, or starts one if the last
// began at least the minimum interval ago; otherwise nil.
func (k *keySet) fetchAllowed() *fetchCall {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.inflight == nil && k.now().Sub(k.lastAttempt) < k.minRefresh {
		return nil
	}
	return k.startLocked()
}

func (k *keySet) startLocked() *fetchCall {
	if k.inflight != nil {
		return k.inflight
	}
	call := &fetchCall{done: make(chan struct{})}
	k.inflight = call
	k.lastAttempt = k.now()
	go func() {
		// The fetch belongs to no request: a caller giving up does not
		// cancel it for the others.
		ctx, cancel := context.WithTimeout(context.Background(), 2*k.timeout)
		err := k.fetch(ctx)
		cancel()
		k.mu.Lock()
		k.inflight = nil
		wasFailing := k.lastFailed
		k.lastFailed = err != nil
		k.mu.Unlock()
		switch {
		case err != nil:
			k.log.Warn("identity provider key set fetch failed; previous keys kept",
				slog.String("issuer", k.name), slog.String("error", err.Error()))
		case wasFailing:
			k.log.Info("identity provider key set fetched again", slog.String("issuer", k.name))
		}
		call.err = err
		close(call.done)
	}()
	return call
}

// fetch downloads the key set (after discovery, if configured) and makes
// it current.
func (k *keySet) fetch(ctx context.Context) error {
	url := k.jwksURL
	if k.discovery {
		var err error
		if url, err = discoverJWKS(ctx, k.client, k.issuer, k.allowHTTP); err != nil {
			return err
		}
	}
	raw := jwkset.NewMemoryStorage()
	if _, err := jwkset.NewStorageFromHTTP(url, jwkset.HTTPClientStorageOptions{
		Client: k.client, Ctx: ctx, HTTPTimeout: k.timeout, Storage: raw,
	}); err != nil {
		return fmt.Errorf("key set %s: %w", url, err)
	}
	all, err := raw.KeyReadAll(ctx)
	if err != nil {
		return err
	}
	keep := make([]jwkset.JWK, 0, len(all))
	public := make([]jwkset.JWKMarshal, 0, len(all))
	for _, j := range all {
		m := j.Marshal()
		if m.USE != "" && m.USE != jwkset.UseSig || m.KTY == jwkset.KtyOct {
			continue // encryption keys; symmetric keys have no place in a public set
		}
		if pub, ok := j.Key().(*rsa.PublicKey); ok && pub.N.BitLen() < MinRSABits {
			k.log.Warn("identity provider key skipped: RSA key shorter than 2048 bits",
				slog.String("issuer", k.name), slog.String("kid", m.KID))
			continue
		}
		keep = append(keep, j)
		public = append(public, m)
	}
	set := jwkset.NewMemoryStorage()
	if err := set.KeyReplaceAll(ctx, keep); err != nil {
		return err
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: set, UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
	if err != nil {
		return err
	}
	b, _ := json.Marshal(public)
	k.state.Store(&keyState{kf: kf, count: len(keep), fetched: k.now(), print: sha256.Sum256(b)})
	return nil
}

// usable returns the current keys if they may verify at now.
func (k *keySet) usable(now time.Time) *keyState {
	st := k.state.Load()
	if st == nil || now.Sub(st.fetched) > k.maxStale {
		return nil
	}
	return st
}

// key returns the public key that verifies t, fetching the set when it is
// missing, too old, or lacks t's kid (within the rate limit). The reason
// is ReasonKeysUnavailable when no usable set could be had.
func (k *keySet) key(ctx context.Context, t *jws) (any, *keyState, string) {
	st := k.usable(k.now())
	if st == nil {
		if call := k.fetchAllowed(); call != nil {
			// A failed fetch leaves no usable set: the check below says so.
			_ = waitFetch(ctx, call)
		}
		if st = k.usable(k.now()); st == nil {
			return nil, nil, ReasonKeysUnavailable
		}
	}
	key, reason := st.lookup(ctx, t)
	if reason == ReasonUnknownKid {
		if call := k.fetchAllowed(); call != nil && waitFetch(ctx, call) == nil {
			if st2 := k.usable(k.now()); st2 != nil {
				st = st2
				key, reason = st.lookup(ctx, t)
			}
		}
	}
	if reason != "" {
		return nil, nil, reason
	}
	return key, st, ""
}

func waitFetch(ctx context.Context, call *fetchCall) error {
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lookup finds t's key: by kid, or the only key of a one-key set when t
// names none.
func (st *keyState) lookup(ctx context.Context, t *jws) (any, string) {
	header := map[string]any{"alg": t.alg}
	if t.hasKid {
		header["kid"] = t.kid
	} else if st.count > 1 {
		return nil, ReasonNoKid
	}
	key, err := st.kf.KeyfuncCtx(ctx)(&jwt.Token{Header: header})
	switch {
	case errors.Is(err, jwkset.ErrKeyNotFound):
		return nil, ReasonUnknownKid
	case err != nil:
		return nil, ReasonKeyMismatch
	}
	if set, ok := key.(jwt.VerificationKeySet); ok {
		if len(set.Keys) != 1 {
			return nil, ReasonUnknownKid
		}
		key = set.Keys[0]
	}
	return key, ""
}

// health reports the key set's state at now.
func (k *keySet) health(now time.Time) IssuerHealth {
	h := IssuerHealth{Name: k.name, Issuer: k.issuer, State: StatePending}
	k.mu.Lock()
	failing := k.lastFailed
	k.mu.Unlock()
	st := k.state.Load()
	if st == nil {
		if failing {
			h.State = StateUnavailable
		}
		return h
	}
	fetched := st.fetched
	h.Keys, h.LastRefresh = st.count, &fetched
	switch {
	case now.Sub(st.fetched) > k.maxStale:
		h.State = StateExpired
	case failing:
		h.State = StateStale
	default:
		h.State = StateOK
	}
	return h
}
