package gormstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgproto3"
)

// The fake servers below speak just enough of the PostgreSQL and MySQL
// wire protocols for the real drivers to connect, run simple statements
// and transactions, and then meet a scripted failure at a chosen moment:
// the link closed or reset, an error packet, a stall. The drivers then
// build their errors exactly as they do when a real server goes away,
// unexported types included, which is what the classification tests
// need.

// fault is what a fake server does when a statement arrives.
type fault int

const (
	answer    fault = iota // answer the statement as a server would
	closeLink              // close the connection without a word
	resetLink              // close it with a TCP reset
	stall                  // read on, answer nothing
	sendError              // send the scripted error and close the link (a Postgres ERROR leaves it open)
	outOfSync              // (MySQL) answer with a wrong sequence number
)

// script decides the fate of each statement a fake server receives, by
// its text; a nil script answers everything.
type script func(stmt string) fault

// failOn returns a script that answers every statement until one starting
// with prefix (case-insensitive) arrives, and meets that one with f.
func failOn(prefix string, f fault) script {
	return func(stmt string) fault {
		if strings.HasPrefix(strings.ToUpper(stmt), strings.ToUpper(prefix)) {
			return f
		}
		return answer
	}
}

// fakeServer accepts connections on 127.0.0.1 until the test ends.
type fakeServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startFake(t *testing.T, serve func(net.Conn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

// reset closes c so that the peer sees a connection reset.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// stallUntilClosed reads and discards whatever c sends until it closes.
func stallUntilClosed(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// fakePostgres starts a PostgreSQL server that trusts every user; each
// connection runs its statements past sc. pgErr is sent for sendError;
// startup, when not nil, is sent instead of accepting the connection
// (then the link is closed).
func fakePostgres(t *testing.T, sc script, pgErr, startup *pgproto3.ErrorResponse) *fakeServer {
	return startFake(t, func(c net.Conn) {
		be := pgproto3.NewBackend(c, c)
		if _, err := be.ReceiveStartupMessage(); err != nil {
			return
		}
		if startup != nil {
			be.Send(startup)
			_ = be.Flush()
			return
		}
		be.Send(&pgproto3.AuthenticationOk{})
		for _, p := range [][2]string{{"server_version", "15.0"}, {"standard_conforming_strings", "on"}, {"client_encoding", "UTF8"}} {
			be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
		}
		be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		if be.Flush() != nil {
			return
		}
		tx := byte('I')
		for {
			msg, err := be.Receive()
			if err != nil {
				return
			}
			q, ok := msg.(*pgproto3.Query)
			if !ok {
				return // Terminate, or a protocol the fake does not speak
			}
			f := answer
			if sc != nil {
				f = sc(q.String)
			}
			switch f {
			case closeLink:
				return
			case resetLink:
				reset(c)
				return
			case stall:
				stallUntilClosed(c)
				return
			case sendError:
				be.Send(pgErr)
				if pgErr.Severity == "FATAL" || pgErr.Severity == "PANIC" {
					_ = be.Flush()
					return
				}
				be.Send(&pgproto3.ReadyForQuery{TxStatus: tx})
				if be.Flush() != nil {
					return
				}
				continue
			}
			verb := strings.ToUpper(strings.Fields(q.String + " x")[0])
			tag := verb
			switch verb {
			case "BEGIN":
				tx = 'T'
			case "COMMIT", "ROLLBACK":
				tx = 'I'
			case "INSERT":
				tag = "INSERT 0 1"
			case "UPDATE", "DELETE":
				tag += " 1"
			}
			be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
			be.Send(&pgproto3.ReadyForQuery{TxStatus: tx})
			if be.Flush() != nil {
				return
			}
		}
	})
}

// openFakePostgres opens a one-connection pgx pool on addr.
func openFakePostgres(t *testing.T, addr string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", "postgres://fake@"+addr+"/fake?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// MySQL protocol constants the fake server uses.
const (
	myCapLongPassword = 1 << 0
	myCapProtocol41   = 1 << 9
	myCapTransactions = 1 << 13
	myCapSecureConn   = 1 << 15
	myCapPluginAuth   = 1 << 19
	myComQuit         = 0x01
	myComQuery        = 0x03
	myComPing         = 0x0e
)

// myPacket is one MySQL protocol packet.
type myPacket struct {
	seq     byte
	payload []byte
}

func readMyPacket(r io.Reader) (myPacket, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return myPacket{}, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	p := myPacket{seq: h[3], payload: make([]byte, n)}
	_, err := io.ReadFull(r, p.payload)
	return p, err
}

func writeMyPacket(w io.Writer, seq byte, payload []byte) error {
	n := len(payload)
	_, err := w.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...))
	return err
}

// myOK is an OK packet: no rows affected, autocommit status.
var myOK = []byte{0x00, 0, 0, 0x02, 0x00, 0, 0}

// myError returns the payload of an error packet, as a server sends it.
func myError(number uint16, state, message string) []byte {
	b := []byte{0xff, byte(number), byte(number >> 8), '#'}
	return append(append(b, state...), message...)
}

// myHandshake is the server's initial handshake packet (protocol 10,
// mysql_native_password).
func myHandshake() []byte {
	var b bytes.Buffer
	b.WriteByte(10)
	b.WriteString("10.11.99-fake\x00")
	b.Write([]byte{1, 0, 0, 0}) // connection id
	b.WriteString("abcdefgh")   // scramble, part 1
	b.WriteByte(0)              // filler
	caps := uint32(myCapLongPassword | myCapProtocol41 | myCapTransactions | myCapSecureConn | myCapPluginAuth)
	b.Write(binary.LittleEndian.AppendUint16(nil, uint16(caps)))
	b.WriteByte(45)             // utf8mb4_general_ci
	b.Write([]byte{0x02, 0x00}) // status: autocommit
	b.Write(binary.LittleEndian.AppendUint16(nil, uint16(caps>>16)))
	b.WriteByte(21)                   // length of the scramble
	b.Write(make([]byte, 10))         // reserved
	b.WriteString("ijklmnopqrst\x00") // scramble, part 2
	b.WriteString("mysql_native_password\x00")
	return b.Bytes()
}

// fakeMySQL starts a MySQL server that lets every user in; each
// connection runs its statements past sc. errPacket is sent for
// sendError; greeting, when not nil, is sent instead of the handshake
// (then the link is closed).
func fakeMySQL(t *testing.T, sc script, errPacket, greeting []byte) *fakeServer {
	return startFake(t, func(c net.Conn) {
		if greeting != nil {
			_ = writeMyPacket(c, 0, greeting)
			return
		}
		if writeMyPacket(c, 0, myHandshake()) != nil {
			return
		}
		resp, err := readMyPacket(c)
		if err != nil || writeMyPacket(c, resp.seq+1, myOK) != nil {
			return
		}
		for {
			p, err := readMyPacket(c)
			if err != nil || len(p.payload) == 0 {
				return
			}
			switch p.payload[0] {
			case myComQuit:
				return
			case myComPing:
				if writeMyPacket(c, 1, myOK) != nil {
					return
				}
				continue
			case myComQuery:
			default:
				_ = writeMyPacket(c, 1, myError(1047, "08S01", "Unknown command"))
				continue
			}
			f := answer
			if sc != nil {
				f = sc(string(p.payload[1:]))
			}
			switch f {
			case closeLink:
				return
			case resetLink:
				reset(c)
				return
			case stall:
				stallUntilClosed(c)
				return
			case sendError:
				_ = writeMyPacket(c, 1, errPacket)
				return
			case outOfSync:
				_ = writeMyPacket(c, 7, myOK)
				continue
			}
			if writeMyPacket(c, 1, myOK) != nil {
				return
			}
		}
	})
}

// openFakeMySQL opens a one-connection go-sql-driver/mysql pool on addr,
// dialling through dial when it is not nil.
func openFakeMySQL(t *testing.T, addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "fake", "tcp", addr, "fake"
	cfg.Timeout = 5 * time.Second
	cfg.Logger = &mysql.NopLogger{}
	cfg.DialFunc = dial
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// closingConn is a client connection that closes itself just before its
// first write after the handshake was read, as when the kernel has
// already torn the link down: the driver fails to write anything.
type closingConn struct {
	net.Conn
	reads int
}

func (c *closingConn) Read(b []byte) (int, error) {
	c.reads++
	return c.Conn.Read(b)
}

func (c *closingConn) Write(b []byte) (int, error) {
	if c.reads > 0 {
		_ = c.Close()
	}
	return c.Conn.Write(b)
}

// errorChain describes err and everything it wraps, for test logs.
func errorChain(err error) string {
	var parts []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		parts = append(parts, fmt.Sprintf("%T", e))
	}
	return fmt.Sprintf("%q [%s]", err.Error(), strings.Join(parts, " > "))
}
