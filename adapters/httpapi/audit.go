package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// auditRoutes mounts the audit-log endpoints when an AuditService is
// configured. Both take a JWT or an API key holding api-keys:manage.
func (s *Server) auditRoutes(v1 *gin.RouterGroup) {
	if s.audit == nil {
		return
	}
	v1.GET("/audit-logs", s.authenticate, s.listAuditLogs)
	v1.GET("/api-keys/:id/usage", s.authenticate, s.keyUsage)
}

// eventJSON is an audit event as the API shows it. Facts the event does
// not have are null.
type eventJSON struct {
	ID             string         `json:"id"`
	Time           time.Time      `json:"time"`
	OrganizationID string         `json:"organization_id"`
	Actor          string         `json:"actor"`
	Action         string         `json:"action"`
	KeyID          *string        `json:"key_id"`
	RequestID      *string        `json:"request_id"`
	TraceID        *string        `json:"trace_id"`
	Method         *string        `json:"method"`
	Path           *string        `json:"path"`
	ClientIP       *string        `json:"client_ip"`
	UserAgent      *string        `json:"user_agent"`
	Status         *int           `json:"status"`
	Outcome        *string        `json:"outcome"`
	Scope          *string        `json:"scope"`
	Details        map[string]any `json:"details"`
	// ClientRequestID is the X-Request-Id the client sent, when kept.
	ClientRequestID *string `json:"client_request_id"`
}

type eventsJSON struct {
	Data       []eventJSON `json:"data"`
	NextCursor *string     `json:"next_cursor"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toEventJSON(ev audit.Event) eventJSON {
	out := eventJSON{
		ID: ev.ID, Time: ev.Time.UTC(), OrganizationID: ev.OrganizationID, Actor: ev.Actor, Action: string(ev.Action),
		KeyID: optional(ev.KeyID), RequestID: optional(ev.RequestID), TraceID: optional(ev.TraceID),
		Method: optional(ev.Method), Path: optional(ev.Path), ClientIP: optional(ev.ClientIP),
		UserAgent: optional(ev.UserAgent), Outcome: optional(string(ev.Outcome)), Scope: optional(ev.Scope),
		Details: ev.Details,
	}
	out.ClientRequestID = optional(ev.ClientRequestID)
	if ev.Status != 0 {
		st := ev.Status
		out.Status = &st
	}
	return out
}

func writeEvents(c *gin.Context, page ports.AuditPage) {
	out := eventsJSON{Data: make([]eventJSON, 0, len(page.Events)), NextCursor: encodeCursor(page.Next)}
	for _, ev := range page.Events {
		out.Data = append(out.Data, toEventJSON(ev))
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// pageInput reads limit and cursor.
func pageInput(c *gin.Context) (ports.AuditPageInput, error) {
	limit, err := parseLimit(c)
	if err != nil {
		return ports.AuditPageInput{}, err
	}
	cur, err := decodeCursor(c.Query("cursor"))
	if err != nil {
		return ports.AuditPageInput{}, err
	}
	return ports.AuditPageInput{Limit: limit, After: cur}, nil
}

// timeQuery reads an optional RFC 3339 query parameter, refused with code.
func timeQuery(c *gin.Context, name, code string) (*time.Time, error) {
	v, ok := c.GetQuery(name)
	if !ok || v == "" {
		return nil, nil
	}
	t, err := parseTimeField(name, code, v)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// listAuditLogs answers GET /api/v1/audit-logs.
func (s *Server) listAuditLogs(c *gin.Context) {
	page, err := pageInput(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	in := ports.AuditListInput{
		OrganizationID: c.Query("organization_id"), KeyID: c.Query("key_id"),
		Action: c.Query("action"), Actor: c.Query("actor"), AuditPageInput: page,
	}
	if in.Since, err = timeQuery(c, "since", "invalid_since"); err != nil {
		s.writeError(c, err)
		return
	}
	if in.Until, err = timeQuery(c, "until", "invalid_until"); err != nil {
		s.writeError(c, err)
		return
	}
	if in.Unattributed, err = parseBoolQuery(c, "unattributed"); err != nil {
		s.writeError(c, err)
		return
	}
	events, err := s.audit.List(c.Request.Context(), principal(c), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	writeEvents(c, events)
}

// keyUsage answers GET /api/v1/api-keys/{id}/usage.
func (s *Server) keyUsage(c *gin.Context) {
	page, err := pageInput(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	events, err := s.audit.KeyUsage(c.Request.Context(), principal(c), c.Param("id"), page)
	if err != nil {
		s.writeError(c, err)
		return
	}
	writeEvents(c, events)
}
