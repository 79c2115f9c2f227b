package console

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

// signedInHandler is a handler of a signed-in user's request.
type signedInHandler func(w http.ResponseWriter, r *http.Request, ss *session)

// signedIn runs h with the request's live session; without one (none,
// expired, signed out) it sends the browser to the sign-in page, which
// brings it back to the page it asked for.
func (c *Console) signedIn(h signedInHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var ss *session
		if ck, err := r.Cookie(cookieName); err == nil {
			ss, _ = c.store.get(ck.Value)
		}
		if ss == nil {
			target := Prefix + "/sign-in"
			if r.Method == http.MethodGet {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		h(w, r, ss)
	}
}

// csrf refuses, with 403, a state-changing form that does not carry the
// session's CSRF token.
func (c *Console) csrf(h signedInHandler) signedInHandler {
	return func(w http.ResponseWriter, r *http.Request, ss *session) {
		if !ss.validCSRF(r.PostFormValue("csrf")) {
			c.renderStatus(w, r, ss, http.StatusForbidden, "Refused",
				"This form did not come from your console session (its CSRF token is missing or wrong). Reload the page and try again.")
			return
		}
		h(w, r, ss)
	}
}

// safeNext returns next when it is a console page, else the home page:
// the sign-in never redirects elsewhere.
func safeNext(next string) string {
	if strings.HasPrefix(next, Prefix+"/") && !strings.HasPrefix(next, Prefix+"/sign-") &&
		!strings.ContainsAny(next, "\\\r\n") && !strings.Contains(next, "//") {
		return next
	}
	return Prefix + "/orgs"
}

func (c *Console) secure(r *http.Request) bool { return c.o.SecureCookie || r.TLS != nil }

// signInPage offers the sign-in methods. Its form is protected by a
// double-submit cookie, since no session exists yet.
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	token := randomToken()
	//nolint:gosec // Secure whenever served over TLS (c.secure); plain-HTTP development must sign in too
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: token, Path: Prefix + "/sign-in", HttpOnly: true,
		Secure: c.secure(r), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	v := view{Title: "Sign in", CSRF: token}
	type signIn struct {
		Dev  *DevUser
		Next string
	}
	v.Data = signIn{Dev: c.o.DevSignIn, Next: safeNext(r.URL.Query().Get("next"))}
	c.render(w, r, "signin", http.StatusOK, v)
}

// devSignIn signs in as the development user (development only).
func (c *Console) devSignIn(w http.ResponseWriter, r *http.Request) {
	if c.o.DevSignIn == nil {
		c.renderStatus(w, r, nil, http.StatusNotFound, "Not found", "no such page")
		return
	}
	ck, err := r.Cookie(csrfCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(ck.Value)) != 1 {
		c.renderStatus(w, r, nil, http.StatusForbidden, "Refused",
			"This sign-in form did not come from this console (its CSRF token is missing or wrong). Reload the sign-in page and try again.")
		return
	}
	if old, err := r.Cookie(cookieName); err == nil {
		c.store.delete(old.Value)
	}
	id, _ := c.store.create(c.o.DevSignIn.Subject, c.o.DevSignIn.Organizations)
	//nolint:gosec // deletes the sign-in cookie; Secure as when it was set
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: "", Path: Prefix + "/sign-in", MaxAge: -1, HttpOnly: true,
		Secure: c.secure(r), SameSite: http.SameSiteStrictMode})
	//nolint:gosec // Secure whenever served over TLS (c.secure); plain-HTTP development must sign in too
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: Prefix, HttpOnly: true, Secure: c.secure(r),
		SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther) //nolint:gosec // safeNext admits console pages only
}

// signOut ends the session (CSRF-checked when one is live) and clears
// the cookie.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(cookieName); err == nil {
		if ss, ok := c.store.get(ck.Value); ok {
			if !ss.validCSRF(r.PostFormValue("csrf")) {
				c.renderStatus(w, r, ss, http.StatusForbidden, "Refused",
					"This form did not come from your console session (its CSRF token is missing or wrong). Reload the page and try again.")
				return
			}
			c.store.delete(ck.Value)
		}
	}
	//nolint:gosec // deletes the cookie; Secure as when it was set
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, MaxAge: -1, HttpOnly: true,
		Secure: c.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, Prefix+"/sign-in", http.StatusSeeOther)
}
