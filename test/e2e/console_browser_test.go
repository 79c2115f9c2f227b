package e2e

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's Chromium (apt-get install chromium); without it
// the browser suite is skipped, except under CI, where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found: apt-get install -y chromium")
	}
	t.Skip("no Chromium found (apt-get install -y chromium); the browser suite is skipped")
	return ""
}

// browser starts a headless Chromium (chromedp drives it over the
// DevTools protocol: no Node.js) and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs steps in the browser's tab, failing the test on an error.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that returns a value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TestConsoleInChromium drives the console in a real browser, at phone
// width: development sign-in, create a key and read its secret once (gone
// after a reload), use it over the API and see the use on the key's page,
// rotate, revoke with the typed name, browse the audit log by key; the
// stylesheet and script load under the Content-Security-Policy and no
// page scrolls sideways at 360 px.
func TestConsoleInChromium(t *testing.T) {
	ctx := browser(t)
	s := start(t, env{driver: "sqlite"}, "APIKEYS_CONSOLE_DEV_SUBJECT=dev_user", "APIKEYS_CONSOLE_DEV_ORGANIZATIONS=org_a")
	run(t, ctx, "phone viewport", chromedp.EmulateViewport(360, 740))
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	text := func(what, sel string) string { t.Helper(); return value(t, ctx, what, chromedp.Text(css(sel))) }
	location := func() string { t.Helper(); return value(t, ctx, "location", chromedp.Location()) }
	noSideScroll := func(page string) {
		t.Helper()
		if !value(t, ctx, "measure "+page, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`)) {
			t.Errorf("%s scrolls sideways at 360 px", page)
		}
	}

	devButton := css(`form[action="/console/sign-in/dev"] button`)
	run(t, ctx, "open the console", chromedp.Navigate(s.base+"/console/orgs/org_a/keys"), chromedp.WaitVisible(devButton))
	if loc := location(); !strings.Contains(loc, "/console/sign-in?next=") {
		t.Fatalf("signed out, the browser is at %s", loc)
	}
	newKey := css(`a[href="/console/orgs/org_a/keys/new"]`)
	run(t, ctx, "sign in", chromedp.Click(devButton), chromedp.WaitVisible(newKey))
	if loc := location(); !strings.HasSuffix(loc, "/console/orgs/org_a/keys") {
		t.Fatalf("after sign-in the browser is at %s, not the page it asked for", loc)
	}
	if bg := value(t, ctx, "header style", chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header")).backgroundColor`)); bg != "rgb(27, 31, 36)" {
		t.Errorf("the stylesheet did not apply under the CSP: header background %q", bg)
	}
	noSideScroll("the empty key list")

	run(t, ctx, "create a key",
		chromedp.Click(newKey),
		chromedp.WaitVisible(css(`#name`)),
		chromedp.SendKeys(css(`#name`), "Browser key"),
		chromedp.Click(css(`input[name="scopes"][value="events:read"]`)),
		chromedp.Submit(css(`#name`)),
		chromedp.WaitVisible(css(`#secret`)),
	)
	secret, secretURL := text("secret", `#secret`), location()
	if !strings.HasPrefix(secret, "sk_test_") {
		t.Fatalf("secret shown: %q", secret)
	}
	noSideScroll("the secret page")
	run(t, ctx, "the copy button's script runs",
		chromedp.Click(css(`button[data-copy="secret"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector(".copied").textContent.length > 0`, chromedp.WithPollingTimeout(5*time.Second)),
	)
	run(t, ctx, "reload the secret page", chromedp.Reload(), chromedp.WaitVisible(css(`main`)))
	if body := text("reloaded page", `main`); strings.Contains(body, secret) || !strings.Contains(body, "shown once") {
		t.Fatalf("after a reload the page shows:\n%s", body)
	}

	// Use the key over the API; the use appears on the key's page.
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 200)
	keyURL := secretURL[:strings.Index(secretURL, "/secret?")]
	keyID := keyURL[strings.LastIndex(keyURL, "/")+1:]
	eventually(t, 10*time.Second, "the use on the key page", func() bool {
		run(t, ctx, "key page", chromedp.Navigate(keyURL), chromedp.WaitVisible(css(`dl.fields`)))
		body := text("key page", `main`)
		return strings.Contains(body, "/api/v1/auth/verify") && strings.Contains(body, "key.used")
	})
	noSideScroll("the key page")

	run(t, ctx, "rotate", chromedp.Click(css(`form[action$="/rotate"] button`)), chromedp.WaitVisible(css(`#secret`)))
	rotated := text("rotated secret", `#secret`)
	if rotated == secret || !strings.HasPrefix(rotated, "sk_test_") {
		t.Fatalf("rotation showed %q", rotated)
	}
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 401)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", rotated), 200)

	run(t, ctx, "revoke with a wrong name",
		chromedp.Navigate(keyURL+"/revoke"),
		chromedp.WaitVisible(css(`#confirm`)),
		chromedp.SendKeys(css(`#confirm`), "Browser"),
		chromedp.Submit(css(`#confirm`)),
		chromedp.WaitVisible(css(`.problem`)),
	)
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", rotated), 200)
	run(t, ctx, "revoke",
		chromedp.SetValue(css(`#confirm`), "Browser key"),
		chromedp.Submit(css(`#confirm`)),
		chromedp.WaitVisible(css(`dl.fields`)),
	)
	if body := text("revoked key", `dl.fields`); !strings.Contains(body, "revoked") {
		t.Fatalf("after revocation the key page shows:\n%s", body)
	}
	want(t, s.do("GET", "/api/v1/auth/verify", "", "X-API-Key", rotated), 401)

	run(t, ctx, "audit log by key",
		chromedp.Navigate(s.base+"/console/orgs/org_a/audit?key_id="+url.QueryEscape(keyID)),
		chromedp.WaitVisible(css(`table`)),
	)
	body := text("audit log", `table`)
	for _, fact := range []string{"key.created", "key.used", "key.rotated", "key.revoked", "user:dev_user"} {
		if !strings.Contains(body, fact) {
			t.Errorf("the audit log of the key lacks %s:\n%s", fact, body)
		}
	}
	noSideScroll("the audit log")

	// Another organization's page, reached by editing the URL.
	run(t, ctx, "another organization", chromedp.Navigate(s.base+"/console/orgs/org_b/keys"), chromedp.WaitVisible(css(`.problem`)))
	if body := text("refusal", `.problem`); !strings.Contains(body, "forbidden_organization") {
		t.Fatalf("another organization's keys: %s", body)
	}

	// Sign out: the console asks to sign in again.
	signOut := css(`form[action="/console/sign-out"] button`)
	run(t, ctx, "sign out",
		chromedp.Navigate(s.base+"/console/orgs"),
		chromedp.WaitVisible(signOut),
		chromedp.Click(signOut),
		chromedp.WaitVisible(devButton),
		chromedp.Navigate(s.base+"/console/orgs"),
		chromedp.WaitVisible(devButton),
	)
}
