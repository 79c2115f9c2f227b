package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MaxResponseBytes bounds every document read from a provider (discovery,
// key set, introspection answer); a larger one is an error.
const MaxResponseBytes = 1 << 20

// maxRedirects bounds the redirects followed towards a provider document.
const maxRedirects = 3

// errTooLarge is a provider answer past MaxResponseBytes.
var errTooLarge = fmt.Errorf("response larger than %d bytes", MaxResponseBytes)

// newHTTPClient returns the client every provider request goes through:
// base's transport (or a clone of http.DefaultTransport) with bodies capped
// at MaxResponseBytes, each request bounded by timeout, at most
// maxRedirects redirects and never from https to http.
func newHTTPClient(base *http.Client, timeout time.Duration) *http.Client {
	var rt http.RoundTripper
	if base != nil && base.Transport != nil {
		rt = base.Transport
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = timeout
		t.TLSHandshakeTimeout = timeout
		rt = t
	}
	return &http.Client{
		Transport: limitTransport{rt},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return errors.New("redirect from https to plain http refused")
			}
			return nil
		},
	}
}

// limitTransport caps response bodies at MaxResponseBytes, whoever reads
// them (our code or the key-set library).
type limitTransport struct{ rt http.RoundTripper }

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > MaxResponseBytes {
		resp.Body.Close()
		return nil, errTooLarge
	}
	resp.Body = &limitedBody{rc: resp.Body, left: MaxResponseBytes}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, errTooLarge
		}
		return 0, io.EOF
	}
	n, err := b.rc.Read(p[:min(int64(len(p)), b.left)])
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// getJSON fetches url and returns its body, which must be a 200 answer.
func getJSON(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return body, nil
}

// discoveryURL is where an OpenID provider publishes its configuration
// (OpenID Connect Discovery 1.0, section 4).
func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// discoverJWKS reads the provider configuration of issuer and returns its
// jwks_uri. The document must name the same issuer (section 4.3).
func discoverJWKS(ctx context.Context, client *http.Client, issuer string, allowHTTP bool) (string, error) {
	body, err := getJSON(ctx, client, discoveryURL(issuer))
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	doc, err := decodeObject(body)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	iss, _, err := doc.str("issuer")
	if err != nil || iss != issuer {
		return "", fmt.Errorf("discovery: the document's issuer %q is not %q", iss, issuer)
	}
	uri, ok, err := doc.str("jwks_uri")
	if err != nil || !ok {
		return "", errors.New("discovery: no jwks_uri")
	}
	if err := checkURL(uri, allowHTTP); err != nil {
		return "", fmt.Errorf("discovery: jwks_uri: %w", err)
	}
	return uri, nil
}
