package console

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The Content-Security-Policy allows no inline script or style: no page
// may hold one (the browser would refuse it silently).
func TestTemplatesHoldNothingInline(t *testing.T) {
	checks := []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`),                // a script with a body
		regexp.MustCompile(`(?i)\sstyle\s*=`),                         // a style attribute
		regexp.MustCompile(`(?i)<style`),                              // a style element
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),                      // an event-handler attribute
		regexp.MustCompile(`(?i)(?:href|src|action)="(?:https?:)?//`), // anything fetched from elsewhere
		regexp.MustCompile(`(?i)javascript:`),
	}
	scriptWithoutSrc := regexp.MustCompile(`<script\b[^>]*>`)
	pages := 0
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		pages++
		b, err := fs.ReadFile(templateFS, path)
		if err != nil {
			return err
		}
		src := string(b)
		for _, re := range checks {
			if m := re.FindString(src); m != "" {
				t.Errorf("%s: %q is not allowed by the Content-Security-Policy", path, m)
			}
		}
		for _, tag := range scriptWithoutSrc.FindAllString(src, -1) {
			if !strings.Contains(tag, `src="/console/static/`) {
				t.Errorf("%s: %s loads no file of the console's own", path, tag)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages < 9 {
		t.Fatalf("read %d templates", pages)
	}
}
