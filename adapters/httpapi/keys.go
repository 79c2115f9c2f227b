package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/ports"
)

func (s *Server) createKey(c *gin.Context) {
	var req createRequest
	if !s.decodeJSON(c, &req) {
		return
	}
	if req.Name == nil {
		s.writeError(c, &apikey.ValidationError{Field: "name", Code: "invalid_name", Message: "name is required"})
		return
	}
	in := ports.CreateInput{Name: *req.Name, Scopes: req.Scopes, Request: s.requestInfo(c)}
	if req.OrganizationID != nil {
		if *req.OrganizationID == "" {
			s.writeError(c, apikey.InvalidOrganizationID("organization_id"))
			return
		}
		in.OrganizationID = *req.OrganizationID
	}
	if req.Environment != nil {
		if *req.Environment == "" {
			s.writeError(c, &apikey.ValidationError{Field: "environment", Code: "invalid_environment", Message: `environment must be "test" or "live"`})
			return
		}
		in.Environment = *req.Environment
	}
	if req.ExpiresAt != nil {
		t, err := parseTimeField("expires_at", "invalid_expires_at", *req.ExpiresAt)
		if err != nil {
			s.writeError(c, err)
			return
		}
		in.ExpiresAt = &t
	}
	if req.Metadata != nil && !isNull(req.Metadata) {
		in.Metadata = req.Metadata
	}
	in.IPAllowlist = req.IPAllowlist
	if req.RateLimit != nil {
		r, err := rateLimitFrom(*req.RateLimit)
		if err != nil {
			s.writeError(c, err)
			return
		}
		in.RateLimit = &r
	}
	issued, err := s.keys.Create(c.Request.Context(), principal(c), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Location", "/api/v1/api-keys/"+issued.Key.ID)
	c.JSON(http.StatusCreated, toIssuedJSON(issued, time.Now()))
}

func (s *Server) listKeys(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	cur, err := decodeCursor(c.Query("cursor"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	inclRevoked, err := parseBoolQuery(c, "include_revoked")
	if err != nil {
		s.writeError(c, err)
		return
	}
	in, err := listFilters(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	in.OrganizationID, in.IncludeRevoked, in.Limit, in.After = c.Query("organization_id"), inclRevoked, limit, cur
	page, err := s.keys.List(c.Request.Context(), principal(c), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	now := time.Now()
	out := listJSON{Data: make([]keyJSON, 0, len(page.Keys)), Total: page.Total, NextCursor: encodeCursor(page.Next)}
	for _, k := range page.Keys {
		out.Data = append(out.Data, toKeyJSON(k, now))
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getKey(c *gin.Context) {
	k, err := s.keys.Get(c.Request.Context(), principal(c), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toKeyJSON(k, time.Now()))
}

// listFilters reads the filters and order of GET /api/v1/api-keys:
// status (comma-separated), expiring_within and unused_for (durations such
// as "72h" or "30d") and sort (created_at or last_used_at).
func listFilters(c *gin.Context) (ports.ListInput, error) {
	var in ports.ListInput
	if v, ok := c.GetQuery("status"); ok {
		for _, name := range strings.Split(v, ",") {
			st, err := apikey.ParseStatus(strings.TrimSpace(name))
			if err != nil {
				return in, err
			}
			in.Statuses = append(in.Statuses, st)
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"expiring_within", &in.ExpiringWithin}, {"unused_for", &in.UnusedFor}} {
		v, ok := c.GetQuery(d.name)
		if !ok {
			continue
		}
		dur, err := parseDuration(v)
		if err != nil || dur <= 0 {
			return in, apikey.Invalid(d.name, `%s must be a positive duration such as "72h" or "30d"`, d.name)
		}
		*d.dst = dur
	}
	if v, ok := c.GetQuery("rotation_due"); ok {
		due, err := strconv.ParseBool(v)
		if err != nil || (v != "true" && v != "false") {
			return in, apikey.Invalid("rotation_due", `rotation_due must be "true" or "false"`)
		}
		in.RotationDue = &due
	}
	switch v, _ := c.GetQuery("sort"); v {
	case "", "created_at":
	case "last_used_at":
		in.SortByLastUsed = true
	default:
		return in, apikey.Invalid("sort", `sort must be "created_at" or "last_used_at"`)
	}
	return in, nil
}

// parseDuration reads whole days ("30d") or a Go duration ("36h").
func parseDuration(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("bad duration %q", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// rotateRequest is the optional body of POST /api/v1/api-keys/{id}/rotate.
type rotateRequest struct {
	// GracePeriod is how long the replaced secret keeps working: a Go
	// duration ("90m", "24h") or whole days ("7d"); "0" or absent: none.
	GracePeriod *string `json:"grace_period"`
}

// parseGrace reads a grace period: whole days ("7d") or a Go duration.
func parseGrace(v string) (time.Duration, error) {
	d, err := parseDuration(v)
	if err != nil {
		return 0, &apikey.ValidationError{Field: "grace_period", Code: "invalid_grace_period",
			Message: `grace_period must be a duration such as "30m", "24h" or "7d"`}
	}
	return d, nil
}

func (s *Server) rotateKey(c *gin.Context) {
	in := ports.RotateInput{}
	if c.Request.ContentLength > 0 {
		var req rotateRequest
		if !s.decodeJSON(c, &req) {
			return
		}
		if req.GracePeriod != nil {
			g, err := parseGrace(*req.GracePeriod)
			if err != nil {
				s.writeError(c, err)
				return
			}
			in.Grace = g
		}
	}
	in.Request = s.requestInfo(c)
	issued, err := s.keys.Rotate(c.Request.Context(), principal(c), c.Param("id"), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, toIssuedJSON(issued, time.Now()))
}

func (s *Server) revokeKey(c *gin.Context) {
	if _, err := s.keys.Revoke(c.Request.Context(), principal(c), c.Param("id"), s.requestInfo(c)); err != nil {
		s.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
