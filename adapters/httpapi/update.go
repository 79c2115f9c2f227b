package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

// patchRequest is the body of PATCH /api/v1/api-keys/{id}, a JSON merge
// patch: a member left out keeps the key's value, null clears a field that
// may be empty (expires_at, rate_limit) and is refused for the others.
// Each member is kept raw so that absent and null can be told apart.
type patchRequest struct {
	Name      json.RawMessage `json:"name"`
	Scopes    json.RawMessage `json:"scopes"`
	ExpiresAt json.RawMessage `json:"expires_at"`
	RateLimit json.RawMessage `json:"rate_limit"`
	// Metadata is merged into the key's (RFC 7396); null clears it.
	Metadata json.RawMessage `json:"metadata"`
	// IPAllowlist replaces the key's; null or [] clears it.
	IPAllowlist json.RawMessage `json:"ip_allowlist"`
}

// rateLimitRequest is a rate limit as a request body gives it.
type rateLimitRequest struct {
	Limit  *int    `json:"limit"`
	Window *string `json:"window"`
}

var jsonNull = []byte("null")

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), jsonNull) }

// decodeMember decodes the raw member field of a body into dst, strictly
// (no unknown fields in a nested object); kind names the JSON type
// expected, for the message of a mismatch.
func decodeMember(raw json.RawMessage, field, kind string, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		code, msg, f := describeJSONError(err)
		if code == "unknown_field" {
			return &apikey.ValidationError{Field: field + "." + f, Code: code, Message: msg}
		}
		if f != "" {
			return &apikey.ValidationError{Field: field + "." + f, Code: code, Message: field + "." + msg}
		}
		return &apikey.ValidationError{Field: field, Code: "invalid_type", Message: field + " must be " + kind}
	}
	return nil
}

// notNull refuses null for field, which cannot be cleared.
func notNull(raw json.RawMessage, field, kind string) error {
	if isNull(raw) {
		return &apikey.ValidationError{Field: field, Code: "invalid_type", Message: field + " cannot be null: it must be " + kind}
	}
	return nil
}

// rateLimitFrom checks a body's rate limit and returns it.
func rateLimitFrom(rl rateLimitRequest) (apikey.RateLimit, error) {
	switch {
	case rl.Limit == nil:
		return apikey.RateLimit{}, &apikey.ValidationError{Field: "rate_limit.limit", Code: "invalid_rate_limit", Message: "rate_limit.limit is required"}
	case rl.Window == nil:
		return apikey.RateLimit{}, &apikey.ValidationError{Field: "rate_limit.window", Code: "invalid_rate_limit", Message: `rate_limit.window is required: "1s", "1m" or "1h"`}
	}
	return apikey.NewRateLimit(*rl.Limit, *rl.Window)
}

// updateInput turns a merge patch into the core's input.
func updateInput(req patchRequest) (ports.UpdateInput, error) {
	var in ports.UpdateInput
	if req.Name != nil {
		var name string
		if err := notNull(req.Name, "name", "a string"); err != nil {
			return in, err
		}
		if err := decodeMember(req.Name, "name", "a string", &name); err != nil {
			return in, err
		}
		in.Name = &name
	}
	if req.Scopes != nil {
		if err := notNull(req.Scopes, "scopes", "an array of strings"); err != nil {
			return in, err
		}
		scopes := []string{}
		if err := decodeMember(req.Scopes, "scopes", "an array of strings", &scopes); err != nil {
			return in, err
		}
		in.Scopes = scopes
	}
	if req.ExpiresAt != nil {
		in.ExpiresAt.Set = true
		if !isNull(req.ExpiresAt) {
			var v string
			if err := decodeMember(req.ExpiresAt, "expires_at", "an RFC 3339 timestamp or null", &v); err != nil {
				return in, err
			}
			t, err := parseTimeField("expires_at", "invalid_expires_at", v)
			if err != nil {
				return in, err
			}
			in.ExpiresAt.Value = &t
		}
	}
	if req.RateLimit != nil {
		in.RateLimit.Set = true
		if !isNull(req.RateLimit) {
			var rl rateLimitRequest
			if err := decodeMember(req.RateLimit, "rate_limit", `an object {"limit": N, "window": "1s"|"1m"|"1h"} or null`, &rl); err != nil {
				return in, err
			}
			r, err := rateLimitFrom(rl)
			if err != nil {
				return in, err
			}
			in.RateLimit.Value = &r
		}
	}
	if req.Metadata != nil {
		in.Metadata.Set = true
		if !isNull(req.Metadata) {
			in.Metadata.Value = req.Metadata
		}
	}
	if req.IPAllowlist != nil {
		in.IPAllowlist.Set = true
		if !isNull(req.IPAllowlist) {
			list := []string{}
			if err := decodeMember(req.IPAllowlist, "ip_allowlist", "an array of strings", &list); err != nil {
				return in, err
			}
			in.IPAllowlist.Value = list
		}
	}
	return in, nil
}

// updateKey answers PATCH /api/v1/api-keys/{id} with the key as stored.
func (s *Server) updateKey(c *gin.Context) {
	var req patchRequest
	if !s.decodeJSON(c, &req) {
		return
	}
	in, err := updateInput(req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	in.Request = s.requestInfo(c)
	k, err := s.keys.Update(c.Request.Context(), principal(c), c.Param("id"), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toKeyJSON(k, time.Now()))
}
