package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The documented base URL the examples are copied with; the tests replace
// it, and only it.
const docBaseURL = "https://api.agentauri.ai/api/v1"

// requireTool returns the path of a tool the suite needs, skipping the
// test with why when it is absent, or failing it under CI (.ci/run
// installs every tool).
func requireTool(t *testing.T, why string, find func() (string, error)) string {
	t.Helper()
	p, err := find()
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %v (CI must have it: .ci/run installs it)", why, err)
	}
	t.Skipf("%s: %v", why, err)
	return ""
}

// exampleSource returns the documented example name, with its base URL
// replaced by base; it fails when the documented URL is not in it once.
func exampleSource(t *testing.T, name, base string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(src, []byte(docBaseURL)); n != 1 {
		t.Fatalf("%s names %s %d times, want once", name, docBaseURL, n)
	}
	return strings.Replace(string(src), docBaseURL, base+"/api/v1", 1)
}

// pythonWithRequests finds a python3 that can import requests (Debian's
// python3-requests is /usr/bin/python3's).
func pythonWithRequests() (string, error) {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import requests").Run() == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no python3 with the requests module (apt-get install -y python3-requests)")
}

// runPython runs the documented Python example with AGENTAURI_API_KEY set
// to key, and prints the status and the example's triggers variable.
func runPython(t *testing.T, python, base, key string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	ex := filepath.Join(dir, "example.py")
	if err := os.WriteFile(ex, []byte(exampleSource(t, "python.py", base)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The example ends with the triggers in a variable: print it.
	runner := "import json, runpy\nns = runpy.run_path(" + fmt.Sprintf("%q", ex) + ")\nprint(ns['response'].status_code)\nprint(json.dumps(ns['triggers'], sort_keys=True))\n"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", runner)
	cmd.Env = append(os.Environ(), "AGENTAURI_API_KEY="+key)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var (
	axiosOnce sync.Once
	axiosDir  string
	axiosErr  error
)

// installAxios installs axios from npm into a temporary directory, once
// per run.
func installAxios() (string, error) {
	axiosOnce.Do(func() {
		if _, err := exec.LookPath("node"); err != nil {
			axiosErr = fmt.Errorf("node is not installed")
			return
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			axiosErr = fmt.Errorf("npm is not installed")
			return
		}
		dir, err := os.MkdirTemp("", "apikeys-axios-")
		if err != nil {
			axiosErr = err
			return
		}
		axiosDir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, "axios@1")
		if out, err := cmd.CombinedOutput(); err != nil {
			axiosErr = fmt.Errorf("npm install axios: %w\n%s", err, out)
		}
	})
	return axiosDir, axiosErr
}

// runNode runs the documented Node.js example with AGENTAURI_API_KEY set
// to key. The example awaits at its top level while calling require,
// which Node runs neither as CommonJS nor as an ES module: it is run as
// the body of an async function, unchanged. A refusal (axios throws)
// prints the status and exits 3.
func runNode(t *testing.T, modules, base, key string) (string, error) {
	t.Helper()
	src := "(async () => {\n" + exampleSource(t, "nodejs.js", base) + "\n})().catch((e) => {\n" +
		"  console.log(e.response ? e.response.status : e.message);\n  console.log(JSON.stringify(e.response && e.response.data));\n  process.exit(3);\n});\n"
	ex := filepath.Join(modules, "example.cjs")
	if err := os.WriteFile(ex, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", ex)
	cmd.Env = append(os.Environ(), "AGENTAURI_API_KEY="+key)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
