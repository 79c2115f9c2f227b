package api

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// redoclyCLI is the pinned version of the independent OpenAPI linter.
const redoclyCLI = "@redocly/cli@2.77.0"

// needTool skips the test when a tool it installs cannot be had, except in
// CI (CI set), where the check is required and the test fails instead.
func needTool(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format+" (required when CI is set)", args...)
}

// TestRedoclyLint validates openapi.yaml as OpenAPI 3.1 with a tool
// independent of the Go one the other tests use: `redocly lint` with its
// recommended rules, installed from npm into a temporary directory. Any
// error or warning fails, besides those .redocly.lint-ignore.yaml lists.
func TestRedoclyLint(t *testing.T) {
	if testing.Short() {
		t.Skip("installs a linter from npm")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		needTool(t, "npm not found: cannot install %s", redoclyCLI)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, redoclyCLI)
	if out, err := install.CombinedOutput(); err != nil {
		needTool(t, "npm install %s: %v\n%s", redoclyCLI, err, out)
	}
	lint := exec.CommandContext(ctx, filepath.Join(dir, "node_modules", ".bin", "redocly"), "lint", "openapi.yaml", "--format=json")
	var stdout, stderr bytes.Buffer
	lint.Stdout, lint.Stderr = &stdout, &stderr
	runErr := lint.Run()
	var report struct {
		Totals struct {
			Errors, Warnings, Ignored int
		} `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("redocly lint: %v, output not JSON (%v)\n%s\n%s", runErr, err, stdout.Bytes(), stderr.Bytes())
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("redocly %s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	if runErr != nil || report.Totals.Errors+report.Totals.Warnings > 0 {
		t.Fatalf("redocly lint: %v, %d errors, %d warnings", runErr, report.Totals.Errors, report.Totals.Warnings)
	}
}
