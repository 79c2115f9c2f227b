package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// keysPerPage is the number of keys a list page shows; maxScan bounds
// the keys one filtered page reads to find them.
const (
	keysPerPage = 25
	maxScan     = 2000
)

// scopeDescriptions are the documented meanings of the scopes.
var scopeDescriptions = map[apikey.Scope]string{
	apikey.ScopeTriggersRead:       "List and view triggers",
	apikey.ScopeTriggersWrite:      "Create, update, delete triggers",
	apikey.ScopeEventsRead:         "Query blockchain events",
	apikey.ScopeOrganizationsRead:  "View organization details",
	apikey.ScopeOrganizationsWrite: "Manage organization settings",
	apikey.ScopeAPIKeysManage:      "Create and revoke API keys",
}

// keyRow is a key as the console shows it.
type keyRow struct {
	apikey.Key
	State  apikey.Status
	Scopes []string
}

func row(k apikey.Key, now time.Time) keyRow {
	return keyRow{Key: k, State: k.Status(now), Scopes: k.Scopes.Strings()}
}

// home lists the organizations the user may manage.
func (c *Console) home(w http.ResponseWriter, r *http.Request, ss *session) {
	c.render(w, r, "orgs", http.StatusOK, base(ss, "Organizations", ""))
}

// keyFilter is the list page's filter.
type keyFilter struct {
	Status string // "" (not revoked, as the API lists), all, active, expired, revoked
	Env    string // "", test, live
}

func (f keyFilter) match(k apikey.Key, now time.Time) bool {
	st := k.Status(now)
	switch f.Status {
	case "":
		if st == apikey.StatusRevoked {
			return false
		}
	case "all":
	default:
		if string(st) != f.Status {
			return false
		}
	}
	return f.Env == "" || string(k.Environment) == f.Env
}

func (f keyFilter) narrows() bool { return f.Env != "" || (f.Status != "" && f.Status != "all") }

func readKeyFilter(q url.Values) (keyFilter, error) {
	f := keyFilter{Status: q.Get("status"), Env: q.Get("environment")}
	switch f.Status {
	case "", "all", "active", "expired", "revoked":
	default:
		return f, apikey.Invalid("status", "status must be all, active, expired or revoked, got %q", f.Status)
	}
	switch f.Env {
	case "", "test", "live":
	default:
		return f, apikey.Invalid("environment", `environment must be "test" or "live"`)
	}
	return f, nil
}

// keyList is the data of the list page.
type keyList struct {
	Filter  keyFilter
	Keys    []keyRow
	Total   int64 // keys the API would list with the same include_revoked (over all pages)
	Next    string
	Partial bool // the scan bound stopped the search before a full page
}

// listKeys shows a page of the organization's keys, filtered. The use
// case lists by organization (and revoked or not); the status and
// environment filters are applied to its pages, reading at most maxScan
// keys per page shown.
func (c *Console) listKeys(w http.ResponseWriter, r *http.Request, ss *session) {
	org := r.PathValue("org")
	q := r.URL.Query()
	f, err := readKeyFilter(q)
	if err != nil {
		c.renderErr(w, r, ss, err)
		return
	}
	cur, err := decodeCursor(q.Get("cursor"))
	if err != nil {
		c.renderErr(w, r, ss, err)
		return
	}
	in := ports.ListInput{OrganizationID: org, IncludeRevoked: f.Status == "all" || f.Status == "revoked", Limit: keysPerPage, After: cur}
	if f.narrows() {
		in.Limit = 200
	}
	now := time.Now()
	out := keyList{Filter: f}
	for scanned := 0; ; {
		page, err := c.o.Keys.List(r.Context(), principal(ss), in)
		if err != nil {
			c.renderErr(w, r, ss, err)
			return
		}
		out.Total = page.Total
		for _, k := range page.Keys {
			if !f.match(k, now) {
				continue
			}
			out.Keys = append(out.Keys, row(k, now))
			if len(out.Keys) == keysPerPage {
				if k.ID != page.Keys[len(page.Keys)-1].ID || page.Next != nil {
					out.Next = encodeCursor(&ports.Cursor{Time: k.CreatedAt, ID: k.ID})
				}
				break
			}
		}
		scanned += len(page.Keys)
		if len(out.Keys) == keysPerPage || page.Next == nil {
			break
		}
		if scanned >= maxScan {
			out.Next, out.Partial = encodeCursor(page.Next), true
			break
		}
		in.After = page.Next
	}
	v := base(ss, "Keys of "+org, org)
	v.Data = out
	c.render(w, r, "keys", http.StatusOK, v)
}

// keyForm is the create form's values, kept to show it again on error.
type keyForm struct {
	Name, Environment, ExpiresAt, IPAllowlist, Metadata, RateLimit, RateWindow string
	Scopes                                                                     []string
	AllScopes                                                                  []scopeChoice
}

type scopeChoice struct{ Name, Description string }

func allScopes() []scopeChoice {
	out := make([]scopeChoice, 0, len(apikey.AllScopes))
	for _, s := range apikey.AllScopes {
		out = append(out, scopeChoice{Name: string(s), Description: scopeDescriptions[s]})
	}
	return out
}

func (c *Console) newKeyPage(w http.ResponseWriter, r *http.Request, ss *session) {
	org := r.PathValue("org")
	if !ss.member(org) {
		c.renderErr(w, r, ss, apikey.ForbiddenOrganization("organization_id", org))
		return
	}
	v := base(ss, "New key", org)
	v.Data = keyForm{Environment: "test", AllScopes: allScopes()}
	c.render(w, r, "newkey", http.StatusOK, v)
}

// createInput turns the create form into the use case's input; its
// errors are the API's for the same fields.
func createInput(form keyForm, org string) (ports.CreateInput, error) {
	in := ports.CreateInput{Name: form.Name, OrganizationID: org, Scopes: form.Scopes, Environment: form.Environment}
	if form.Environment == "" {
		return in, &apikey.ValidationError{Field: "environment", Code: "invalid_environment", Message: `environment must be "test" or "live"`}
	}
	if form.ExpiresAt != "" {
		t, err := parseTime("expires_at", "invalid_expires_at", form.ExpiresAt)
		if err != nil {
			return in, err
		}
		in.ExpiresAt = &t
	}
	for _, line := range strings.FieldsFunc(form.IPAllowlist, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if line = strings.TrimSpace(line); line != "" {
			in.IPAllowlist = append(in.IPAllowlist, line)
		}
	}
	if m := strings.TrimSpace(form.Metadata); m != "" {
		in.Metadata = []byte(m)
	}
	if form.RateLimit != "" || form.RateWindow != "" {
		switch {
		case form.RateLimit == "":
			return in, &apikey.ValidationError{Field: "rate_limit.limit", Code: "invalid_rate_limit", Message: "rate_limit.limit is required"}
		case form.RateWindow == "":
			return in, &apikey.ValidationError{Field: "rate_limit.window", Code: "invalid_rate_limit", Message: `rate_limit.window is required: "1s", "1m" or "1h"`}
		}
		n, err := strconv.Atoi(form.RateLimit)
		if err != nil {
			return in, &apikey.ValidationError{Field: "rate_limit.limit", Code: "invalid_rate_limit", Message: "rate_limit.limit must be an integer"}
		}
		rl, err := apikey.NewRateLimit(n, form.RateWindow)
		if err != nil {
			return in, err
		}
		in.RateLimit = &rl
	}
	return in, nil
}

func (c *Console) createKey(w http.ResponseWriter, r *http.Request, ss *session) {
	org := r.PathValue("org")
	form := keyForm{
		Name: r.PostFormValue("name"), Environment: r.PostFormValue("environment"), ExpiresAt: strings.TrimSpace(r.PostFormValue("expires_at")),
		IPAllowlist: r.PostFormValue("ip_allowlist"), Metadata: r.PostFormValue("metadata"),
		RateLimit: strings.TrimSpace(r.PostFormValue("rate_limit")), RateWindow: r.PostFormValue("rate_window"),
		Scopes: r.PostForm["scopes"], AllScopes: allScopes(),
	}
	in, err := createInput(form, org)
	var issued ports.Issued
	if err == nil {
		in.Request = c.requestInfo(r)
		issued, err = c.o.Keys.Create(r.Context(), principal(ss), in)
	}
	if err != nil {
		v := base(ss, "New key", org)
		v.Problem = c.problemOf(r, err)
		v.Data = form
		c.render(w, r, "newkey", v.Problem.Status, v)
		return
	}
	c.showOnce(w, r, ss, org, issued)
}

// showOnce keeps the secret for one showing and sends the browser to it
// (post, redirect, get: a reload never resubmits the form).
func (c *Console) showOnce(w http.ResponseWriter, r *http.Request, ss *session, org string, issued ports.Issued) {
	ref := c.store.keep(ss, issued.Key.ID, issued.Secret)
	http.Redirect(w, r, keyPath(org, issued.Key.ID)+"/secret?ref="+url.QueryEscape(ref), http.StatusSeeOther) //nolint:gosec // a console path, its parts escaped
}

func keyPath(org, id string) string {
	return Prefix + "/orgs/" + url.PathEscape(org) + "/keys/" + url.PathEscape(id)
}

// orgKey returns key id of organization org through the use case (its
// checks); a key of another organization is not found, as a key the user
// may not see.
func (c *Console) orgKey(r *http.Request, ss *session) (apikey.Key, error) {
	k, err := c.o.Keys.Get(r.Context(), principal(ss), r.PathValue("id"))
	if err != nil {
		return k, err
	}
	if k.OrganizationID != r.PathValue("org") {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return k, nil
}

// secretView is the data of the page that shows a secret once.
type secretView struct {
	Key    keyRow
	Secret string
}

func (c *Console) showSecret(w http.ResponseWriter, r *http.Request, ss *session) {
	k, err := c.orgKey(r, ss)
	if err != nil {
		c.renderErr(w, r, ss, err)
		return
	}
	secret, ok := c.store.take(ss, r.URL.Query().Get("ref"), k.ID)
	if !ok {
		c.renderStatus(w, r, ss, http.StatusGone, "Secret no longer shown",
			"The secret of this key was shown once and is not kept: it cannot be shown again. Rotate the key to get a new secret.")
		return
	}
	v := base(ss, "Copy your new secret", r.PathValue("org"))
	v.Data = secretView{Key: row(k, time.Now()), Secret: secret}
	c.render(w, r, "secret", http.StatusOK, v)
}

// detailView is the data of the key page.
type detailView struct {
	Key     keyRow
	Uses    []audit.Event
	MoreURL string
}

func (c *Console) keyDetail(w http.ResponseWriter, r *http.Request, ss *session) {
	k, err := c.orgKey(r, ss)
	if err != nil {
		c.renderErr(w, r, ss, err)
		return
	}
	uses, err := c.o.Audit.KeyUsage(r.Context(), principal(ss), k.ID, ports.AuditPageInput{Limit: 20})
	if err != nil {
		c.renderErr(w, r, ss, err)
		return
	}
	org := r.PathValue("org")
	v := base(ss, k.Name, org)
	v.Data = detailView{Key: row(k, time.Now()), Uses: uses.Events,
		MoreURL: Prefix + "/orgs/" + url.PathEscape(org) + "/audit?key_id=" + url.QueryEscape(k.ID)}
	c.render(w, r, "key", http.StatusOK, v)
}

func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request, ss *session) {
	k, err := c.orgKey(r, ss)
	var grace time.Duration
	if v := r.PostFormValue("grace_period"); err == nil && v != "" {
		if grace, err = time.ParseDuration(v); err != nil {
			err = &apikey.ValidationError{Field: "grace_period", Code: "invalid_grace_period", Message: "grace_period must be a duration such as 24h"}
		}
	}
	if err == nil {
		var issued ports.Issued
		in := ports.RotateInput{Grace: grace, Request: c.requestInfo(r)}
		if issued, err = c.o.Keys.Rotate(r.Context(), principal(ss), k.ID, in); err == nil {
			c.showOnce(w, r, ss, r.PathValue("org"), issued)
			return
		}
	}
	c.renderErr(w, r, ss, err)
}

// revokeView is the data of the revocation page.
type revokeView struct {
	Key     keyRow
	Confirm string
}

func (c *Console) revokePage(w http.ResponseWriter, r *http.Request, ss *session) {
	k, err := c.orgKey(r, ss)
	if err != nil {
		c.renderErr(w, r, ss, err)
		return
	}
	v := base(ss, "Revoke "+k.Name, r.PathValue("org"))
	v.Data = revokeView{Key: row(k, time.Now())}
	c.render(w, r, "revoke", http.StatusOK, v)
}

// revokeKey revokes the key once its name has been typed to confirm.
func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request, ss *session) {
	k, err := c.orgKey(r, ss)
	if err != nil {
		c.renderErr(w, r, ss, err)
		return
	}
	if confirm := r.PostFormValue("confirm"); confirm != k.Name {
		v := base(ss, "Revoke "+k.Name, r.PathValue("org"))
		v.Problem = &problem{Status: http.StatusBadRequest, Field: "confirm",
			Message: "type the key's name exactly as shown to confirm the revocation"}
		v.Data = revokeView{Key: row(k, time.Now()), Confirm: confirm}
		c.render(w, r, "revoke", http.StatusBadRequest, v)
		return
	}
	if _, err := c.o.Keys.Revoke(r.Context(), principal(ss), k.ID, c.requestInfo(r)); err != nil {
		c.renderErr(w, r, ss, err)
		return
	}
	http.Redirect(w, r, keyPath(r.PathValue("org"), k.ID), http.StatusSeeOther) //nolint:gosec // a console path, its parts escaped
}

// member reports whether the session's user belongs to org (for pages
// that call no use case; every action is still the use case's to allow).
func (ss *session) member(org string) bool {
	return principal(ss).MemberOf(org)
}

// encodeCursor and decodeCursor write positions as the API does
// (ports.Cursor).
func encodeCursor(cur *ports.Cursor) string { return cur.String() }

func decodeCursor(s string) (*ports.Cursor, error) { return ports.ParseCursor(s) }

// parseTime reads an RFC 3339 field, refused in the API's words.
func parseTime(field, code, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, &apikey.ValidationError{Field: field, Code: code, Message: field + " must be an RFC 3339 timestamp such as 2030-01-15T10:00:00Z"}
	}
	if !apikey.ValidTime(t) {
		return time.Time{}, &apikey.ValidationError{Field: field, Code: code,
			Message: field + " must lie between " + apikey.MinTime.Format(time.RFC3339) + " and " + apikey.MaxTime.Format(time.RFC3339)}
	}
	return t, nil
}
