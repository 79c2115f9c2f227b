package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// introspector asks an RFC 7662 endpoint whether a token is active. It is
// a form POST with HTTP Basic client authentication and a JSON answer.
type introspector struct {
	url          string
	clientID     string
	clientSecret string
	client       *http.Client
	timeout      time.Duration
}

// errInactive is an introspection answer without "active": true.
var errInactive = errors.New("token inactive")

// introspect returns the claims of an active token. A failure to get an
// answer (network, status, unparsable body) is returned as an error other
// than errInactive.
func (in *introspector) introspect(ctx context.Context, token string) (claims, error) {
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 section 2.3.1: the credentials are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.clientID), url.QueryEscape(in.clientSecret))
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, errors.New(redactToken(err.Error(), token))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("introspection answered status %d", resp.StatusCode)
	}
	c, err := decodeObject(body)
	if err != nil {
		return nil, fmt.Errorf("introspection answer: %w", err)
	}
	if string(c["active"]) != "true" {
		return nil, errInactive
	}
	return c, nil
}

// redactToken removes token from an error text (a URL in a transport error
// could carry it; ours never does, but the log must not depend on that).
func redactToken(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[token]")
}

// opaqueToken reports whether s has the RFC 6750 b64token shape: what may
// be sent on to an introspection endpoint.
func opaqueToken(s string) bool {
	if s == "" {
		return false
	}
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
