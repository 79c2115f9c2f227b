// Package architecture checks the dependency rule of the ports-and-adapters
// layout described in the README.
package architecture

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/agentauri/apikeys"

// coreTypes are the core packages of domain types and rules: every other
// layer may use them.
var coreTypes = map[string]bool{
	module + "/core/apikey":    true,
	module + "/core/audit":     true,
	module + "/core/orgpolicy": true,
	module + "/core/paging":    true,
	module + "/core/quota":     true,
	module + "/core/routes":    true,
}

// useCases are the core packages that run the use cases over the ports.
var useCases = map[string]bool{
	"core/keys":     true,
	"core/auditlog": true,
	"core/orgs":     true,
}

// imports maps each package directory (relative to the repository root)
// to the imports of its non-test Go files.
func imports(t *testing.T) map[string]map[string]bool {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "data" || d.Name() == "bin") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		if out[rel] == nil {
			out[rel] = map[string]bool{}
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			out[rel][p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func isStd(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

func TestDependencyRule(t *testing.T) {
	pkgs := imports(t)
	if len(pkgs) < 8 {
		t.Fatalf("found only %d packages; is the walk broken?", len(pkgs))
	}
	seenCore, seenAdapter := false, false
	for dir, ims := range pkgs {
		for im := range ims {
			internal := strings.HasPrefix(im, module+"/")
			target := strings.TrimPrefix(im, module+"/")
			switch {
			case strings.HasPrefix(dir, "core/"):
				seenCore = true
				// core: standard library, ports and other core packages only.
				if !isStd(im) && !(internal && (strings.HasPrefix(target, "core/") || target == "ports")) {
					t.Errorf("%s imports %s: the core may import only the standard library, ports and core packages", dir, im)
				}
				if internal && target == "ports" && !useCases[dir] {
					t.Errorf("%s imports ports: only the use-case packages may", dir)
				}
				if internal && useCases[target] {
					t.Errorf("%s imports %s: use cases are driven from adapters through ports, never imported by the core", dir, im)
				}
			case dir == "ports":
				if internal && !coreTypes[im] {
					t.Errorf("ports imports %s: only core type packages are allowed", im)
				}
				if !isStd(im) && !internal {
					t.Errorf("ports imports %s: ports must not depend on libraries", im)
				}
			case strings.HasPrefix(dir, "adapters/"):
				seenAdapter = true
				own := strings.Join(strings.SplitN(dir, "/", 3)[:2], "/")
				if internal && !(coreTypes[im] || target == "ports" || strings.HasPrefix(target, own)) {
					t.Errorf("%s imports %s: adapters may import only ports and core types, never each other, the use cases or app", dir, im)
				}
			}
		}
	}
	if !seenCore || !seenAdapter {
		t.Fatal("core or adapters not found")
	}
}

func TestCoreHasNoFrameworks(t *testing.T) {
	for dir, ims := range imports(t) {
		if !strings.HasPrefix(dir, "core/") {
			continue
		}
		for im := range ims {
			for _, banned := range []string{"gin-gonic", "gorm.io", "go.opentelemetry.io", "golang-jwt", "database/sql", "net/http"} {
				if strings.Contains(im, banned) {
					t.Errorf("%s imports %s", dir, im)
				}
			}
		}
	}
}

func TestNoUtilsPackages(t *testing.T) {
	for dir := range imports(t) {
		base := filepath.Base(dir)
		if base == "utils" || base == "util" || base == "common" || base == "helpers" {
			t.Errorf("package %s has a name that explains nothing", dir)
		}
	}
}

func TestNothingReadsSharedFolder(t *testing.T) {
	root, _ := filepath.Abs("../..")
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".sh") || filepath.Base(path) == "Makefile") {
			return nil
		}
		if strings.HasSuffix(path, "deps_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), "../shared") {
			t.Errorf("%s refers to ../shared, which a user's clone does not have", path)
		}
		return nil
	})
}
