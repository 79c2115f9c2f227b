package gormstore

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

var pgDBName = regexp.MustCompile(`(^|\s)dbname=\S*`)

// WithDatabase returns dsn pointed at database name instead of its own, for
// a MySQL DSN or a Postgres URL or keyword=value DSN. Test harnesses use it
// to reach the throwaway databases they create.
func WithDatabase(driver, dsn, name string) (string, error) {
	if driver == DriverMySQL {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", err
		}
		cfg.DBName = name
		return cfg.FormatDSN(), nil
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse postgres URL: %w", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	if pgDBName.MatchString(dsn) {
		return pgDBName.ReplaceAllString(dsn, "${1}dbname="+name), nil
	}
	return strings.TrimSpace(dsn + " dbname=" + name), nil
}
