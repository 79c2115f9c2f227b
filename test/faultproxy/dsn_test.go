package faultproxy

import (
	"strings"
	"testing"
)

func TestRetargetDSN(t *testing.T) {
	cases := []struct{ driver, dsn, target, proxied string }{
		{"postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
			"127.0.0.1:5432", "postgres://postgres@127.0.0.1:6000/test?sslmode=disable"},
		{"postgres", "postgresql://u:p%40ss@db.example/app",
			"db.example:5432", "postgresql://u:p%40ss@127.0.0.1:6000/app"},
		{"postgres", "host=10.0.0.5 port=5433 user=postgres dbname=test sslmode=disable",
			"10.0.0.5:5433", "host=127.0.0.1 port=6000 user=postgres dbname=test sslmode=disable"},
		{"mysql", "root@tcp(127.0.0.1:3306)/test",
			"127.0.0.1:3306", "root@tcp(127.0.0.1:6000)/test"},
		{"mysql", "app:pw@tcp(db:3307)/app?timeout=5s",
			"db:3307", "app:pw@tcp(127.0.0.1:6000)/app?timeout=5s"},
		{"mysql", "root@/test", "127.0.0.1:3306", "root@tcp(127.0.0.1:6000)/test"},
	}
	for _, tc := range cases {
		target, err := dsnTarget(tc.driver, tc.dsn)
		if err != nil || target != tc.target {
			t.Errorf("dsnTarget(%q) = %q, %v; want %q", tc.dsn, target, err, tc.target)
		}
		proxied, err := retarget(tc.driver, tc.dsn, "127.0.0.1:6000")
		if err != nil || proxied != tc.proxied {
			t.Errorf("retarget(%q) = %q, %v; want %q", tc.dsn, proxied, err, tc.proxied)
		}
	}
}

func TestRetargetRefusesNonTCP(t *testing.T) {
	for _, tc := range []struct{ driver, dsn string }{
		{"postgres", "host=/var/run/postgresql dbname=test"},
		{"postgres", "postgres://a:secretpw@h1:5432,h2:5432/db"},
		{"mysql", "root:secretpw@unix(/tmp/mysql.sock)/test"},
		{"mysql", "root:secretpw@tcp(127.0.0.1:3306"},
		{"sqlite", "file.db"},
	} {
		_, err := dsnTarget(tc.driver, tc.dsn)
		if err == nil {
			t.Errorf("dsnTarget(%s, %q) succeeded", tc.driver, tc.dsn)
		} else if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("dsnTarget(%s): error quotes the password: %v", tc.driver, err)
		}
	}
}
