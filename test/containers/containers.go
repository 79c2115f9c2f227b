package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

// Images of the throwaway servers. PostgreSQL 16 is what new deployments
// run (13+ is supported); MySQL 8 is the supported MySQL line (MariaDB
// 10.11 is tested with a DSN).
const (
	PostgresImage = "postgres:16-alpine"
	MySQLImage    = "mysql:8"
)

// adminPassword is the administrative password of the throwaway servers;
// they listen on a random local port and live only as long as this
// process (testcontainers' reaper removes them if it dies).
const adminPassword = "apikeys-test"

// errNoDocker is wrapped by Start when no Docker engine answers.
var errNoDocker = errors.New("no Docker engine answers")

// Server is a database server running in a container.
type Server struct {
	Driver string
	Image  string
	DSN    string // administrative DSN, able to CREATE and DROP DATABASE
	ctr    testcontainers.Container
}

// Stop removes the container.
func (s *Server) Stop(ctx context.Context) error {
	if err := s.ctr.Terminate(ctx, testcontainers.StopTimeout(5*time.Second)); err != nil {
		return fmt.Errorf("remove %s container: %w", s.Driver, err)
	}
	return nil
}

// Start checks that a Docker engine answers, then starts the server of
// driver ("postgres" or "mysql") and waits until it accepts connections.
func Start(ctx context.Context, driver string) (srv *Server, err error) {
	defer func() {
		// testcontainers panics when it finds no Docker host at all.
		if r := recover(); r != nil {
			srv, err = nil, fmt.Errorf("%w: %v", errNoDocker, r)
		}
	}()
	if driver != "postgres" && driver != "mysql" {
		return nil, fmt.Errorf("unknown driver %q (want postgres or mysql)", driver)
	}
	if err := dockerAnswers(ctx); err != nil {
		return nil, err
	}
	switch driver {
	case "postgres":
		c, err := tcpostgres.Run(ctx, PostgresImage,
			tcpostgres.WithUsername("postgres"),
			tcpostgres.WithPassword(adminPassword),
			tcpostgres.WithDatabase("postgres"),
			tcpostgres.BasicWaitStrategies(),
		)
		if err != nil {
			if c != nil {
				stopQuietly(c)
			}
			return nil, fmt.Errorf("start %s: %w", PostgresImage, err)
		}
		dsn, err := c.ConnectionString(ctx, "sslmode=disable")
		if err != nil {
			stopQuietly(c)
			return nil, fmt.Errorf("%s address: %w", PostgresImage, err)
		}
		return &Server{Driver: driver, Image: PostgresImage, DSN: dsn, ctr: c}, nil
	default:
		c, err := tcmysql.Run(ctx, MySQLImage,
			tcmysql.WithUsername("root"),
			tcmysql.WithPassword(adminPassword),
			tcmysql.WithDatabase("test"),
		)
		if err != nil {
			if c != nil {
				stopQuietly(c)
			}
			return nil, fmt.Errorf("start %s: %w", MySQLImage, err)
		}
		dsn, err := c.ConnectionString(ctx)
		if err != nil {
			stopQuietly(c)
			return nil, fmt.Errorf("%s address: %w", MySQLImage, err)
		}
		return &Server{Driver: driver, Image: MySQLImage, DSN: dsn, ctr: c}, nil
	}
}

// stopQuietly removes a container that failed to start or to answer.
func stopQuietly(c testcontainers.Container) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = c.Terminate(ctx)
}

// dockerAnswers reports whether a Docker engine responds within a few
// seconds.
func dockerAnswers(ctx context.Context) error {
	provider, err := testcontainers.ProviderDefault.GetProvider()
	if err != nil {
		return fmt.Errorf("%w: %w", errNoDocker, err)
	}
	defer provider.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := provider.Health(ctx); err != nil {
		return fmt.Errorf("%w: %w", errNoDocker, err)
	}
	return nil
}
