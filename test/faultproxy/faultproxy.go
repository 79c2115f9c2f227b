// Package faultproxy is a TCP proxy for outage tests: put it between a
// service and its database (or any TCP dependency), then cut, stall and
// restore the link while the service keeps running.
//
// Cut closes every open connection with a reset and resets every new one
// as soon as it is accepted, which is what a client sees when the server
// goes down. Stall keeps connections open but forwards nothing, which is
// what a client sees during a network partition: only its own timeouts
// end the wait. Restore forwards traffic again; bytes held back while
// stalled are delivered then.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// dialTimeout bounds each connection to the target, so that a target that
// is itself unreachable does not hold the client for long.
const dialTimeout = 5 * time.Second

// mode is the state of a Proxy.
type mode int

const (
	forwarding mode = iota
	cut
	stalled
)

// Proxy forwards TCP connections from a local address to a target and can
// interrupt them on demand. Its methods are safe for concurrent use.
type Proxy struct {
	target   string
	listener net.Listener

	mu     sync.Mutex
	mode   mode
	gate   chan struct{} // closed while not stalled
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup
}

// link is one client connection and, once dialled, its upstream.
type link struct {
	client   net.Conn
	upstream net.Conn // guarded by Proxy.mu
	done     chan struct{}
	once     sync.Once
}

// Start listens on 127.0.0.1 at a free port and forwards every connection
// to target (host:port). The proxy is closed, and its connections with
// it, when the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: listen: %v", err)
	}
	gate := make(chan struct{})
	close(gate)
	p := &Proxy{target: target, listener: l, gate: gate, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr returns the proxy's listening address as host:port.
func (p *Proxy) Addr() string {
	return p.listener.Addr().String()
}

// Cut resets every open connection and, until Restore, resets every new
// connection as soon as it is accepted.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.openGate()
	p.mode = cut
	for l := range p.links {
		p.drop(l)
	}
}

// Stall stops forwarding bytes in both directions until Restore, without
// closing anything: open connections hang and new connections are
// accepted but not connected to the target, as in a network partition.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == stalled {
		return
	}
	p.mode = stalled
	p.gate = make(chan struct{})
}

// Restore forwards traffic again after Cut or Stall. Connections that
// survived a stall resume where they stopped.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.openGate()
	p.mode = forwarding
}

// Cutting reports whether Cut is in effect.
func (p *Proxy) Cutting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode == cut
}

// Stalled reports whether Stall is in effect.
func (p *Proxy) Stalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode == stalled
}

// Open returns the number of client connections the proxy holds open.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// openGate releases goroutines waiting on a stall. The caller holds p.mu.
func (p *Proxy) openGate() {
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// close stops the listener, drops every connection and waits for the
// proxy's goroutines.
func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.openGate()
	for l := range p.links {
		p.drop(l)
	}
	p.mu.Unlock()
	p.listener.Close()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures (e.g. too many open files): retry shortly.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		if p.closed || p.mode == cut {
			p.mu.Unlock()
			reset(c)
			continue
		}
		l := &link{client: c, done: make(chan struct{})}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

// serve connects l to the target once the gate is open and copies bytes
// both ways until either side ends or the link is dropped.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	if !p.wait(l) {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, dialTimeout)
	p.mu.Lock()
	if err != nil || p.mode == cut || p.closed || isDone(l) {
		p.drop(l)
		p.mu.Unlock()
		if up != nil {
			reset(up)
		}
		return
	}
	l.upstream = up
	p.mu.Unlock()

	var copies sync.WaitGroup
	copies.Add(2)
	go func() { defer copies.Done(); p.pipe(l, up, l.client) }()
	go func() { defer copies.Done(); p.pipe(l, l.client, up) }()
	copies.Wait()
	p.mu.Lock()
	p.drop(l)
	p.mu.Unlock()
}

// pipe copies from src to dst, holding each chunk while the proxy is
// stalled, and ends the link when either side fails or closes.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(l) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				p.end(l)
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// Half-close: let the other direction drain, as TCP does.
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
					return
				}
			}
			p.end(l)
			return
		}
	}
}

// wait blocks while the proxy is stalled and reports whether l may go on.
func (p *Proxy) wait(l *link) bool {
	for {
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		select {
		case <-l.done:
			return false
		case <-gate:
		}
		p.mu.Lock()
		m, again := p.mode, p.gate != gate
		p.mu.Unlock()
		if m == cut || isDone(l) {
			return false
		}
		if !again {
			return true
		}
	}
}

// end drops l after a read or write failure on one of its sides.
func (p *Proxy) end(l *link) {
	p.mu.Lock()
	p.drop(l)
	p.mu.Unlock()
}

// drop resets both sides of l and forgets it. The caller holds p.mu.
func (p *Proxy) drop(l *link) {
	l.once.Do(func() {
		close(l.done)
		reset(l.client)
		if l.upstream != nil {
			reset(l.upstream)
		}
	})
	delete(p.links, l)
}

func isDone(l *link) bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// reset closes c so that the peer sees a connection reset rather than an
// orderly end of stream.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
