package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/orgpolicy"
	"github.com/agentauri/apikeys/ports"
)

// organizationRoutes mounts GET and PATCH /api/v1/organizations/{id}. An
// API key reading needs organizations:read, checked when it is verified;
// one changing is verified without a scope, and the use case decides
// (organizations:write, or api-keys:manage to tighten only).
func (s *Server) organizationRoutes(v1 *gin.RouterGroup) {
	if s.orgs == nil {
		return
	}
	v1.GET("/organizations/:id", s.authenticateWith(apikey.ScopeOrganizationsRead), s.getOrganization)
	v1.PATCH("/organizations/:id", s.authenticateWith(), s.updateOrganization)
}

// organizationJSON is an organization's settings as the API shows them:
// null (or false, or [] for the allowlist) for a setting left unset.
type organizationJSON struct {
	ID                  string         `json:"id"`
	MaxKeyLifetime      *string        `json:"max_key_lifetime"`
	RequireExpiry       bool           `json:"require_expiry"`
	AllowedEnvironments []string       `json:"allowed_environments"`
	DefaultIPAllowlist  []string       `json:"default_ip_allowlist"`
	MaxRotationGrace    *string        `json:"max_rotation_grace"`
	RotationPeriod      *string        `json:"rotation_period"`
	DefaultRateLimit    *rateLimitJSON `json:"default_rate_limit"`
}

func durationOf(d time.Duration) *string {
	if d <= 0 {
		return nil
	}
	v := orgpolicy.FormatDuration(d)
	return &v
}

func toOrganizationJSON(o ports.Organization) organizationJSON {
	p := o.Policy
	out := organizationJSON{ID: o.ID, MaxKeyLifetime: durationOf(p.MaxKeyLifetime), RequireExpiry: p.RequireExpiry,
		DefaultIPAllowlist: allowlistOf(p.DefaultIPAllowlist), RotationPeriod: durationOf(p.RotationPeriod),
		DefaultRateLimit: rateLimitOf(p.DefaultRateLimit)}
	for _, e := range p.AllowedEnvironments {
		out.AllowedEnvironments = append(out.AllowedEnvironments, string(e))
	}
	if p.MaxRotationGrace != nil {
		g := orgpolicy.FormatDuration(*p.MaxRotationGrace)
		out.MaxRotationGrace = &g
	}
	return out
}

// organizationPatch is the body of PATCH /api/v1/organizations/{id}, a
// JSON merge patch: a member left out keeps its value, null clears it.
type organizationPatch struct {
	MaxKeyLifetime      json.RawMessage `json:"max_key_lifetime"`
	RequireExpiry       json.RawMessage `json:"require_expiry"`
	AllowedEnvironments json.RawMessage `json:"allowed_environments"`
	DefaultIPAllowlist  json.RawMessage `json:"default_ip_allowlist"`
	MaxRotationGrace    json.RawMessage `json:"max_rotation_grace"`
	RotationPeriod      json.RawMessage `json:"rotation_period"`
	DefaultRateLimit    json.RawMessage `json:"default_rate_limit"`
}

// durationMember reads a duration setting: null, or a string such as
// "90d" or "36h".
func durationMember(raw json.RawMessage, field string) (ports.Optional[*time.Duration], error) {
	if raw == nil {
		return ports.Optional[*time.Duration]{}, nil
	}
	if isNull(raw) {
		return ports.Some[*time.Duration](nil), nil
	}
	const kind = `a duration such as "90d" or "36h", or null`
	var v string
	if err := decodeMember(raw, field, kind, &v); err != nil {
		return ports.Optional[*time.Duration]{}, err
	}
	d, err := parseDuration(v)
	if err != nil {
		return ports.Optional[*time.Duration]{}, &apikey.ValidationError{Field: field, Code: "invalid_policy", Message: field + " must be " + kind}
	}
	return ports.Some(&d), nil
}

// stringsMember reads an array-of-strings setting; null clears it.
func stringsMember(raw json.RawMessage, field string) (ports.Optional[[]string], error) {
	if raw == nil {
		return ports.Optional[[]string]{}, nil
	}
	if isNull(raw) {
		return ports.Some[[]string](nil), nil
	}
	list := []string{}
	if err := decodeMember(raw, field, "an array of strings or null", &list); err != nil {
		return ports.Optional[[]string]{}, err
	}
	return ports.Some(list), nil
}

// organizationUpdate turns a merge patch into the core's input.
func organizationUpdate(req organizationPatch) (ports.OrganizationUpdate, error) {
	var in ports.OrganizationUpdate
	var err error
	for _, d := range []struct {
		raw   json.RawMessage
		field string
		dst   *ports.Optional[*time.Duration]
	}{
		{req.MaxKeyLifetime, orgpolicy.SettingMaxKeyLifetime, &in.MaxKeyLifetime},
		{req.MaxRotationGrace, orgpolicy.SettingMaxRotationGrace, &in.MaxRotationGrace},
		{req.RotationPeriod, orgpolicy.SettingRotationPeriod, &in.RotationPeriod},
	} {
		if *d.dst, err = durationMember(d.raw, d.field); err != nil {
			return in, err
		}
	}
	if req.RequireExpiry != nil {
		in.RequireExpiry.Set = true
		if !isNull(req.RequireExpiry) {
			var b bool
			if err := decodeMember(req.RequireExpiry, orgpolicy.SettingRequireExpiry, "true, false or null", &b); err != nil {
				return in, err
			}
			in.RequireExpiry.Value = &b
		}
	}
	if in.AllowedEnvironments, err = stringsMember(req.AllowedEnvironments, orgpolicy.SettingAllowedEnvironments); err != nil {
		return in, err
	}
	if in.DefaultIPAllowlist, err = stringsMember(req.DefaultIPAllowlist, orgpolicy.SettingDefaultIPAllowlist); err != nil {
		return in, err
	}
	if req.DefaultRateLimit != nil {
		in.DefaultRateLimit.Set = true
		if !isNull(req.DefaultRateLimit) {
			var rl rateLimitRequest
			if err := decodeMember(req.DefaultRateLimit, orgpolicy.SettingDefaultRateLimit, `an object {"limit": N, "window": "1s"|"1m"|"1h"} or null`, &rl); err != nil {
				return in, err
			}
			r, err := rateLimitFrom(rl)
			if err != nil {
				return in, err
			}
			in.DefaultRateLimit.Value = &r
		}
	}
	return in, nil
}

func (s *Server) getOrganization(c *gin.Context) {
	o, err := s.orgs.GetOrganization(c.Request.Context(), principal(c), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toOrganizationJSON(o))
}

func (s *Server) updateOrganization(c *gin.Context) {
	var req organizationPatch
	if !s.decodeJSON(c, &req) {
		return
	}
	in, err := organizationUpdate(req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	in.Request = s.requestInfo(c)
	o, err := s.orgs.UpdateOrganization(c.Request.Context(), principal(c), c.Param("id"), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toOrganizationJSON(o))
}
