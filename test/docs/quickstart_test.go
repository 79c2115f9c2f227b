package docs

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// quickstart returns the README's quickstart code block.
func quickstart(t *testing.T) string {
	t.Helper()
	r := readme(t)
	start := strings.Index(r, "## Quickstart")
	if start < 0 {
		t.Fatal("README has no Quickstart section")
	}
	_, block, ok := strings.Cut(r[start:], "```sh\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the Quickstart section has no sh block")
	}
	return block
}

// TestQuickstartReusesOneBuild (issue 16 §4): `TOKEN=$(go run . token …)`
// built the whole service again with cgo on, minutes on a fresh machine,
// while `make run` had just built it without. The quickstart mints its
// token with the binary `make run` builds, and `make run` builds it the
// way `make build` does, so nothing is built twice.
func TestQuickstartReusesOneBuild(t *testing.T) {
	block := quickstart(t)
	if strings.Contains(block, "go run") {
		t.Error("the quickstart runs `go run`, which builds the service again")
	}
	tok := regexp.MustCompile(`TOKEN=\$\((\S+) token `).FindStringSubmatch(block)
	if tok == nil {
		t.Fatal("the quickstart mints no TOKEN with `<binary> token`")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make to read the Makefile's recipes with")
	}
	dry := func(target string) string {
		out, err := exec.Command("make", "-n", "-C", "../..", target).CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		return string(out)
	}
	build := regexp.MustCompile(`(?m)^CGO_ENABLED=0 go build .* -o (\S+) \.$`)
	m := build.FindStringSubmatch(dry("build"))
	if m == nil {
		t.Fatalf("make build is not a CGO-free build into a binary:\n%s", dry("build"))
	}
	bin := m[1]
	if tok[1] != bin {
		t.Errorf("the quickstart's token comes from %s, make build writes %s", tok[1], bin)
	}
	run := dry("run")
	if !strings.Contains(run, m[0]) || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(bin)+` serve$`).MatchString(run) {
		t.Errorf("make run does not build %s as make build does and run it:\n%s", bin, run)
	}
	if token := dry("token"); !strings.Contains(token, m[0]) || !strings.Contains(token, bin+" token ") {
		t.Errorf("make token does not use the one build:\n%s", token)
	}
}
