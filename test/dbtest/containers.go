//go:build containers

package dbtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentauri/apikeys/adapters/gormstore"
)

// With -tags containers, a test that finds no DSN variable asks the
// command in test/containers (a module of its own, so that testcontainers
// stays out of the service's go.mod) to start the server in Docker:
// `go run . serve <driver>` prints the server's administrative DSN and
// removes the container when its stdin closes, which happens when this
// test process exits. Each test process starts at most one server per
// driver; every test still gets its own database on it.

// containerWait bounds compiling the command, pulling the image and
// waiting for the server.
const containerWait = 15 * time.Minute

func init() { startContainer = containerDSN }

// containerServer is one driver's server, shared by the process's tests.
type containerServer struct {
	once  sync.Once
	dsn   string
	err   error
	stdin io.WriteCloser // held open for the life of the process
}

var containerServers = map[string]*containerServer{
	gormstore.DriverPostgres: {},
	gormstore.DriverMySQL:    {},
}

// containerDSN returns the administrative DSN of driver's container,
// starting it on first use; it reports false (with the reason in the test
// log) when no Docker engine answers or the server does not start.
func containerDSN(t testing.TB, driver string) (string, bool) {
	t.Helper()
	s, ok := containerServers[driver]
	if !ok {
		return "", false
	}
	s.once.Do(func() { s.dsn, s.stdin, s.err = serveContainer(driver) })
	if s.err != nil {
		t.Logf("dbtest: no %s container: %v", driver, s.err)
		return "", false
	}
	return s.dsn, true
}

// serveContainer runs `go run . serve driver` in test/containers and
// returns the DSN it prints, with the pipe whose closing stops it.
func serveContainer(driver string) (string, io.WriteCloser, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", nil, errors.New("cannot locate test/containers (built with -trimpath?)")
	}
	cmd := exec.Command("go", "run", ".", "serve", driver)
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "containers")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("run test/containers: %w", err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }() // reap it whenever it ends

	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- strings.TrimSpace(sc.Text())
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case dsn, ok := <-line:
		if ok && dsn != "" {
			return dsn, stdin, nil
		}
	case <-time.After(containerWait):
	}
	stdin.Close()
	_ = cmd.Process.Kill()
	<-waited // stderr is complete once Wait returns
	return "", nil, fmt.Errorf("test/containers printed no DSN: %s", strings.TrimSpace(stderr.String()))
}
