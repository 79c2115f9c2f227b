package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds every wait for something that should happen at once;
// it is generous so that a slow machine does not fail the tests.
const waitLimit = 10 * time.Second

// echoServer starts a TCP server that writes back what it reads and
// half-closes when the client does.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return l.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg on c and reads it back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitLimit))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo of %q: %v", msg, err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// expectClosed reads from c and fails unless the connection ends (reset
// or end of stream) within waitLimit.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read succeeded on a connection the proxy should have cut")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("connection still open: the proxy did not cut it")
	}
}

// expectRefused fails unless a connection to addr is refused, reset
// during the handshake, or closed right after it.
func expectRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		return // reset before the client saw the handshake complete
	}
	defer c.Close()
	expectClosed(t, c)
}

// expectSilent fails unless nothing arrives on c for a short while.
func expectSilent(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	n, err := c.Read(make([]byte, 64))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a stalled connection = %d bytes, %v; want a timeout", n, err)
	}
}

func TestForwards(t *testing.T) {
	p := Start(t, echoServer(t))
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want 127.0.0.1:port", p.Addr())
	}
	a, b := dial(t, p.Addr()), dial(t, p.Addr())
	roundTrip(t, a, "hello")
	roundTrip(t, b, "world")
	big := strings.Repeat("0123456789", 20_000) // larger than one copy buffer
	roundTrip(t, a, big)
	if n := p.Open(); n != 2 {
		t.Errorf("Open() = %d, want 2", n)
	}
	if p.Cutting() || p.Stalled() {
		t.Error("a fresh proxy reports an outage")
	}
}

func TestCutAndRestore(t *testing.T) {
	p := Start(t, echoServer(t))
	before := dial(t, p.Addr())
	roundTrip(t, before, "up")

	p.Cut()
	if !p.Cutting() {
		t.Error("Cutting() = false after Cut")
	}
	expectClosed(t, before)
	if _, err := io.WriteString(before, "x"); err == nil {
		// The first write after a reset may still be buffered; the
		// second one must fail.
		time.Sleep(50 * time.Millisecond)
		if _, err := io.WriteString(before, "x"); err == nil {
			t.Error("writes on a cut connection keep succeeding")
		}
	}
	expectRefused(t, p.Addr())

	p.Restore()
	if p.Cutting() {
		t.Error("Cutting() = true after Restore")
	}
	roundTrip(t, dial(t, p.Addr()), "back")
	// The cut connections are gone, not merely paused.
	if n := p.Open(); n != 1 {
		t.Errorf("Open() = %d after restore, want 1", n)
	}
}

func TestStallHoldsTrafficUntilRestore(t *testing.T) {
	p := Start(t, echoServer(t))
	open := dial(t, p.Addr())
	roundTrip(t, open, "up")

	p.Stall()
	if !p.Stalled() || p.Cutting() {
		t.Errorf("Stalled() = %v, Cutting() = %v after Stall", p.Stalled(), p.Cutting())
	}
	if _, err := io.WriteString(open, "held"); err != nil {
		t.Fatal(err)
	}
	expectSilent(t, open)
	fresh := dial(t, p.Addr()) // accepted, but not connected to the target
	if _, err := io.WriteString(fresh, "new"); err != nil {
		t.Fatal(err)
	}
	expectSilent(t, fresh)

	p.Restore()
	for c, want := range map[net.Conn]string{open: "held", fresh: "new"} {
		c.SetReadDeadline(time.Now().Add(waitLimit))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
			t.Errorf("after restore read %q, %v; want %q", got, err, want)
		}
	}
	roundTrip(t, open, "again")
}

func TestCutWhileStalledDropsEverything(t *testing.T) {
	p := Start(t, echoServer(t))
	open := dial(t, p.Addr())
	roundTrip(t, open, "up")
	p.Stall()
	waiting := dial(t, p.Addr())
	io.WriteString(waiting, "never")
	p.Cut()
	if p.Stalled() || !p.Cutting() {
		t.Errorf("Stalled() = %v, Cutting() = %v after Stall then Cut", p.Stalled(), p.Cutting())
	}
	expectClosed(t, open)
	expectClosed(t, waiting)
	p.Restore()
	roundTrip(t, dial(t, p.Addr()), "back")
}

func TestHalfCloseDeliversEverything(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr())
	msg := strings.Repeat("z", 100_000)
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read after half-close: %v", err)
	}
	if !bytes.Equal(got, []byte(msg)) {
		t.Errorf("got %d bytes back, want %d", len(got), len(msg))
	}
}

func TestUnreachableTargetClosesClient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := l.Addr().String()
	l.Close() // nothing listens there now
	p := Start(t, target)
	expectRefused(t, p.Addr())
	if n := p.Open(); n != 0 {
		t.Errorf("Open() = %d after a failed dial, want 0", n)
	}
}

func TestCleanupClosesProxy(t *testing.T) {
	target := echoServer(t)
	var addr string
	var c net.Conn
	t.Run("inner", func(t *testing.T) {
		p := Start(t, target)
		addr = p.Addr()
		var err error
		c, err = net.DialTimeout("tcp", addr, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, "x")
		p.Stall() // a stalled link must not block the cleanup
		io.WriteString(c, "stuck")
	})
	defer c.Close()
	expectClosed(t, c)
	if c2, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c2.Close()
		t.Errorf("proxy at %s still accepts connections after its test ended", addr)
	}
}
