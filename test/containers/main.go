// Command containers runs the apikeys test suite against PostgreSQL and
// MySQL servers that it starts in Docker with testcontainers-go, for
// machines that have Docker but no database servers. It is a Go module of
// its own so that testcontainers and the ~40 modules it needs stay out of
// the service's go.mod.
//
// Usage, from this directory:
//
//	go run .                       # go test -count=1 ./... in the repository root
//	go run . make test             # any command, run in the repository root
//	go run . serve postgres|mysql  # start one server, print its DSN, stop it when stdin closes
//
// A database whose variable (APIKEYS_TEST_POSTGRES_DSN or
// APIKEYS_TEST_MYSQL_DSN) is already set is used as it is: no container is
// started for it. The serve form is what test/dbtest runs when its tests
// are built with -tags containers and no DSN is set.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/agentauri/apikeys/test/dbtest"
)

// drivers maps each database this command can start to the variable that
// names an existing server instead.
var drivers = []struct{ name, env string }{
	{"postgres", dbtest.PostgresEnv},
	{"mysql", dbtest.MySQLEnv},
}

// startTimeout bounds pulling an image and waiting for its server.
const startTimeout = 10 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run carries out the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("containers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("C", filepath.Join("..", ".."), "directory the command runs in (the repository root)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run . [-C dir] [command [args...]]   (default: go test -count=1 ./...)")
		fmt.Fprintln(stderr, "       go run . serve postgres|mysql")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	args = fs.Args()
	if len(args) > 0 && args[0] == "serve" {
		if len(args) != 2 {
			fs.Usage()
			return 2
		}
		return serve(ctx, args[1], stdin, stdout, stderr)
	}
	if len(args) == 0 {
		args = []string{"go", "test", "-count=1", "./..."}
	}
	return runWith(ctx, *root, args, stderr)
}

// serve starts one server, prints its administrative DSN on a line of its
// own and removes the server when stdin ends or a signal arrives.
func serve(ctx context.Context, driver string, stdin io.Reader, stdout, stderr io.Writer) int {
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	srv, err := Start(startCtx, driver)
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "containers:", err)
		return 1
	}
	fmt.Fprintln(stdout, srv.DSN)
	ended := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(stdin))
		close(ended)
	}()
	select {
	case <-ended:
	case <-ctx.Done():
	}
	return stopAll(stderr, srv)
}

// runWith starts a server for every driver whose variable is unset, runs
// args in dir with the variables set, removes the servers and returns the
// command's exit code.
func runWith(ctx context.Context, dir string, args []string, stderr io.Writer) int {
	env := os.Environ()
	var (
		mu      sync.Mutex
		servers []*Server
		errs    []error
		wg      sync.WaitGroup
	)
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	for _, d := range drivers {
		if os.Getenv(d.env) != "" {
			fmt.Fprintf(stderr, "containers: %s: using %s\n", d.name, d.env)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv, err := Start(startCtx, d.name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.name, err))
				return
			}
			servers = append(servers, srv)
			env = append(env, d.env+"="+srv.DSN)
			fmt.Fprintf(stderr, "containers: %s: started %s\n", d.name, srv.Image)
		}()
	}
	wg.Wait()
	cancel()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(stderr, "containers:", err)
		if errors.Is(err, errNoDocker) {
			fmt.Fprintf(stderr, "containers: start Docker, or set %s and %s to existing servers\n", dbtest.PostgresEnv, dbtest.MySQLEnv)
		}
		stopAll(stderr, servers...)
		return 2
	}

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() > 0 {
			code = exit.ExitCode()
		} else {
			fmt.Fprintln(stderr, "containers:", err)
			code = 1
		}
	}
	if stopAll(stderr, servers...) != 0 && code == 0 {
		code = 1
	}
	return code
}

// stopAll removes the servers and returns 1 if any could not be removed.
func stopAll(stderr io.Writer, servers ...*Server) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := 0
	for _, s := range servers {
		if err := s.Stop(ctx); err != nil {
			fmt.Fprintln(stderr, "containers:", err)
			code = 1
		}
	}
	return code
}
