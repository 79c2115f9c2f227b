package console

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// view is what every page template receives.
type view struct {
	Title string
	// Signed-in user; empty on the sign-in page.
	User string
	CSRF string
	Orgs []string
	Org  string
	// Problem is an error shown above the page, in the API's words.
	Problem *problem
	Data    any
}

// problem is an error as the API words it.
type problem struct {
	Status  int
	Code    string
	Message string
	Field   string
}

var funcs = template.FuncMap{
	"ts": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04:05Z")
		case *time.Time:
			if v == nil {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		}
		return ""
	},
	"join": strings.Join,
	"has": func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	},
}

// render writes page name with status, never cached (pages may hold a
// secret or a CSRF token).
func (c *Console) render(w http.ResponseWriter, r *http.Request, name string, status int, v view) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		c.o.Logger.ErrorContext(r.Context(), "console: render", "page", name, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// base is the view of a signed-in page.
func base(ss *session, title, org string) view {
	if ss == nil {
		return view{Title: title, Org: org}
	}
	return view{Title: title, User: ss.subject, CSRF: ss.csrf, Orgs: ss.organizations, Org: org}
}

// renderStatus shows a message page.
func (c *Console) renderStatus(w http.ResponseWriter, r *http.Request, ss *session, status int, title, message string) {
	v := base(ss, title, r.PathValue("org"))
	v.Data = message
	c.render(w, r, "message", status, v)
}

// renderErr shows err as the API would answer it: its status, code,
// message and field. Internal errors are logged, never shown.
func (c *Console) renderErr(w http.ResponseWriter, r *http.Request, ss *session, err error) {
	v := base(ss, "Error", r.PathValue("org"))
	v.Problem = c.problemOf(r, err)
	c.render(w, r, "message", v.Problem.Status, v)
}

func (c *Console) problemOf(r *http.Request, err error) *problem {
	st, code, msg, field := c.o.ErrorAnswer(err)
	if st >= http.StatusInternalServerError {
		c.o.Logger.WarnContext(r.Context(), "console: operation failed", "error", err.Error())
	}
	return &problem{Status: st, Code: code, Message: msg, Field: field}
}
