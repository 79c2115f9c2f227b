package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentauri/apikeys/app"
)

// proc is a server process the driver started: the service or the
// baseline.
type proc struct {
	name    string
	cmd     *exec.Cmd
	base    string // http://host:port
	debug   string // http://host:port of the debug listener; "" for the baseline
	logPath string
	done    chan struct{}
}

// freeAddr asks the kernel for an unused port on 127.0.0.1.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startProc runs bin with args and env, its output going to logPath, and
// waits until base answers /healthz.
func startProc(name, bin string, args, env []string, base, debug, logPath string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, base: base, debug: debug, logPath: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited during start:\n%s", name, tail(logPath, 20))
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not answer /healthz within 60s:\n%s", name, tail(logPath, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a graceful exit (killing after 60s).
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// memory returns the resident set size and its peak (VmHWM), in bytes.
func (p *proc) memory() (rss, peak uint64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseUint(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = v << 10
		case "VmHWM:":
			peak = v << 10
		}
	}
	return rss, peak
}

// resetPeak resets the process's peak RSS to its current RSS (Linux
// clear_refs 5), so the next memory() peak covers what follows.
func (p *proc) resetPeak() bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0) == nil
}

// cpu returns the CPU time (user + system) the process has used.
func (p *proc) cpu() time.Duration { return cpuOf(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid)) }

// dbCPU returns the CPU time used so far by the processes named one of
// names (the database server's, which share the machine); 0 for none.
func dbCPU(names []string) time.Duration {
	if len(names) == 0 {
		return 0
	}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil || !slices.Contains(names, strings.TrimSpace(string(comm))) {
			continue
		}
		total += cpuOf("/proc/" + d.Name() + "/stat")
	}
	return total
}

// selfCPU returns the CPU time the driver (the load generator) has used.
func selfCPU() time.Duration { return cpuOf("/proc/self/stat") }

func cpuOf(stat string) time.Duration {
	b, err := os.ReadFile(stat)
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// snapshot is what the debug listener reports at one moment.
type snapshot struct {
	app.DebugStats
	HeapAlloc uint64 // Go heap in use, bytes
	HeapSys   uint64
	NumGC     uint32
}

// vars reads the service's counters from its debug listener.
func (p *proc) vars(ctx context.Context) (snapshot, error) {
	if p.debug == "" {
		return snapshot{}, errors.New("no debug listener")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.debug+"/debug/vars", nil)
	if err != nil {
		return snapshot{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return snapshot{}, fmt.Errorf("read debug vars: %w", err)
	}
	defer resp.Body.Close()
	var v struct {
		Stats    *app.DebugStats `json:"apikeys"`
		MemStats struct {
			HeapAlloc uint64 `json:"HeapAlloc"`
			HeapSys   uint64 `json:"HeapSys"`
			NumGC     uint32 `json:"NumGC"`
		} `json:"memstats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return snapshot{}, fmt.Errorf("decode debug vars: %w", err)
	}
	if v.Stats == nil {
		return snapshot{}, errors.New("debug vars lack the apikeys counters")
	}
	return snapshot{DebugStats: *v.Stats, HeapAlloc: v.MemStats.HeapAlloc, HeapSys: v.MemStats.HeapSys, NumGC: v.MemStats.NumGC}, nil
}

// drain waits until the audit queue has stored every accepted event, so
// that the writes of a scenario are counted in it.
func (p *proc) drain(ctx context.Context) (snapshot, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := p.vars(ctx)
		if err != nil {
			return s, err
		}
		if s.AuditQueued == 0 {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("audit queue still holds %d events after 30s", s.AuditQueued)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// profile saves a CPU profile of the next d to path.
func (p *proc) profile(ctx context.Context, d time.Duration, path string) error {
	return fetch(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.debug, int(d.Seconds())), path)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
