package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// StartDSN starts a proxy to the database server named by dsn and returns
// it with dsn rewritten to connect through it. driver is "postgres" (URL
// or keyword=value DSN) or "mysql" (go-sql-driver DSN); the server must be
// reached over TCP. The test fails if dsn cannot be rewritten.
func StartDSN(t testing.TB, driver, dsn string) (*Proxy, string) {
	t.Helper()
	target, err := dsnTarget(driver, dsn)
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	p := Start(t, target)
	proxied, err := retarget(driver, dsn, p.Addr())
	if err != nil {
		t.Fatalf("faultproxy: %v", err)
	}
	return p, proxied
}

// dsnTarget returns the host:port a DSN connects to.
func dsnTarget(driver, dsn string) (string, error) {
	switch driver {
	case "postgres":
		cfg, err := pgconn.ParseConfig(dsn)
		if err != nil {
			return "", errors.New("cannot parse the postgres DSN") // its text may hold a password
		}
		if strings.HasPrefix(cfg.Host, "/") {
			return "", fmt.Errorf("postgres DSN uses the unix socket %s; a proxy needs TCP", cfg.Host)
		}
		// sslmode=prefer adds a fallback to the same server; other
		// hosts are a list the proxy cannot stand in for.
		for _, f := range cfg.Fallbacks {
			if f.Host != cfg.Host || f.Port != cfg.Port {
				return "", errors.New("postgres DSN names several hosts; a proxy needs one")
			}
		}
		return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), nil
	case "mysql":
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", errors.New("cannot parse the mysql DSN")
		}
		if cfg.Net != "tcp" && cfg.Net != "tcp4" && cfg.Net != "tcp6" {
			return "", fmt.Errorf("mysql DSN uses network %q; a proxy needs TCP", cfg.Net)
		}
		return cfg.Addr, nil
	}
	return "", fmt.Errorf("unknown driver %q (want postgres or mysql)", driver)
}

var pgHostParam = regexp.MustCompile(`(^|\s)(host|hostaddr|port)=\S*`)

// retarget returns dsn with its server address replaced by addr.
func retarget(driver, dsn, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	switch driver {
	case "postgres":
		if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
			u, err := url.Parse(dsn)
			if err != nil {
				return "", errors.New("cannot parse the postgres URL")
			}
			u.Host = addr
			return u.String(), nil
		}
		rest := strings.TrimSpace(pgHostParam.ReplaceAllString(dsn, "$1"))
		return strings.TrimSpace(fmt.Sprintf("host=%s port=%s %s", host, port, rest)), nil
	case "mysql":
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", errors.New("cannot parse the mysql DSN")
		}
		cfg.Net, cfg.Addr = "tcp", addr
		return cfg.FormatDSN(), nil
	}
	return "", fmt.Errorf("unknown driver %q (want postgres or mysql)", driver)
}
