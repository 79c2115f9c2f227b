package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/test/dbtest"
)

// noDocker points testcontainers at a socket that does not exist.
func noDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-docker.sock")
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
}

func TestStartWithoutDockerFailsFast(t *testing.T) {
	noDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, driver := range []string{"postgres", "mysql"} {
		srv, err := Start(ctx, driver)
		if err == nil {
			srv.Stop(ctx)
			t.Fatalf("Start(%s) succeeded without a Docker engine", driver)
		}
		if !errors.Is(err, errNoDocker) {
			t.Errorf("Start(%s): %v, want errNoDocker", driver, err)
		}
	}
	if _, err := Start(ctx, "oracle"); err == nil || !strings.Contains(err.Error(), "oracle") {
		t.Errorf("Start(oracle): %v", err)
	}
}

func TestRunWithoutDockerNamesTheVariables(t *testing.T) {
	noDocker(t)
	t.Setenv(dbtest.PostgresEnv, "")
	t.Setenv(dbtest.MySQLEnv, "")
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"true"}, nil, &stderr, &stderr)
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	for _, want := range []string{"no Docker engine", dbtest.PostgresEnv, dbtest.MySQLEnv} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("output does not mention %q:\n%s", want, stderr.String())
		}
	}
}

// TestRunUsesGivenDSNs sets both variables: no container is started, the
// command sees the variables, runs in the -C directory, and its exit code
// is passed on.
func TestRunUsesGivenDSNs(t *testing.T) {
	noDocker(t)
	t.Setenv(dbtest.PostgresEnv, "postgres://given")
	t.Setenv(dbtest.MySQLEnv, "root@tcp(given)/x")
	dir := t.TempDir()
	check := `test "$APIKEYS_TEST_POSTGRES_DSN" = postgres://given && test "$APIKEYS_TEST_MYSQL_DSN" = "root@tcp(given)/x" && test "$(pwd -P)" = "$(cd "$1" && pwd -P)"`
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-C", dir, "sh", "-c", check, "sh", dir}, nil, &stderr, &stderr); code != 0 {
		t.Errorf("exit code %d, want 0:\n%s", code, stderr.String())
	}
	if code := run(context.Background(), []string{"-C", dir, "sh", "-c", "exit 3"}, nil, &stderr, &stderr); code != 3 {
		t.Errorf("exit code %d, want the command's 3", code)
	}
	if code := run(context.Background(), []string{"-C", dir, "no-such-command-apikeys"}, nil, &stderr, &stderr); code != 1 {
		t.Errorf("exit code %d for a missing command, want 1", code)
	}
}

func TestServeUsage(t *testing.T) {
	noDocker(t)
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve"}, nil, &out, &out); code != 2 {
		t.Errorf("serve without a driver: exit code %d, want 2", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"serve", "postgres"}, strings.NewReader(""), &out, &out); code != 1 || !strings.Contains(out.String(), "no Docker engine") {
		t.Errorf("serve without Docker: exit code %d, output %q", code, out.String())
	}
}
