package console

import (
	"net/http"
	"net/url"

	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// auditView is the data of the audit log browser.
type auditView struct {
	KeyID, Action, Actor, Since, Until string
	Actions                            []audit.Action
	Events                             []audit.Event
	Next                               string // query of the next page; "" on the last
}

// auditPage browses the organization's audit log with the API's filters
// (key_id, action, actor, since, until), through the audit use case.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, ss *session) {
	org := r.PathValue("org")
	q := r.URL.Query()
	av := auditView{KeyID: q.Get("key_id"), Action: q.Get("action"), Actor: q.Get("actor"),
		Since: q.Get("since"), Until: q.Get("until"), Actions: audit.Actions}
	v := base(ss, "Audit log of "+org, org)
	in := ports.AuditListInput{OrganizationID: org, KeyID: av.KeyID, Action: av.Action, Actor: av.Actor}
	var err error
	if in.After, err = decodeCursor(q.Get("cursor")); err == nil && av.Since != "" {
		since, perr := parseTime("since", "invalid_since", av.Since)
		in.Since, err = &since, perr
	}
	if err == nil && av.Until != "" {
		until, perr := parseTime("until", "invalid_until", av.Until)
		in.Until, err = &until, perr
	}
	var page ports.AuditPage
	if err == nil {
		in.Limit = 50
		page, err = c.o.Audit.List(r.Context(), principal(ss), in)
	}
	if err != nil {
		v.Problem = c.problemOf(r, err)
		v.Data = av
		c.render(w, r, "audit", v.Problem.Status, v)
		return
	}
	av.Events = page.Events
	if page.Next != nil {
		next := url.Values{}
		for _, k := range []string{"key_id", "action", "actor", "since", "until"} {
			if q.Get(k) != "" {
				next.Set(k, q.Get(k))
			}
		}
		next.Set("cursor", encodeCursor(page.Next))
		av.Next = next.Encode()
	}
	v.Data = av
	c.render(w, r, "audit", http.StatusOK, v)
}
