package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"google.golang.org/grpc"

	"github.com/agentauri/apikeys/adapters/httpapi"
	"github.com/agentauri/apikeys/ports"
)

// extAuthz is the gRPC listener of Envoy/Istio external authorization.
type extAuthz struct {
	ln  net.Listener
	srv *grpc.Server
	svc *httpapi.ExtAuthz
}

// newExtAuthz listens on grpc.addr and builds the ext_authz service; nil
// when grpc.addr is empty.
func newExtAuthz(ctx context.Context, cfg Config, keys ports.KeyService, tel *instruments, logger *slog.Logger) (*extAuthz, error) {
	if cfg.GRPC.Addr == "" {
		return nil, nil
	}
	o := httpapi.ExtAuthzOptions{Keys: keys, Routes: cfg.Routes, AcceptBearer: cfg.Edge.AcceptBearer, Logger: logger}
	if tel.on {
		o.Tracer = tel.tel.TracerProvider().Tracer("github.com/agentauri/apikeys/adapters/extauthz")
		o.Propagator = tel.tel.Propagator()
	}
	svc, err := httpapi.NewExtAuthz(o)
	if err != nil {
		return nil, err
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.GRPC.Addr)
	if err != nil {
		return nil, fmt.Errorf("grpc.addr: %w", err)
	}
	e := &extAuthz{ln: ln, srv: grpc.NewServer(), svc: svc}
	svc.Register(e.srv)
	return e, nil
}

// listenExtAuthz builds the ext_authz listener when grpc.addr is set,
// registering the closer of its listener.
func (s *service) listenExtAuthz(ctx context.Context, keys ports.KeyService, tel *instruments) error {
	e, err := newExtAuthz(ctx, s.cfg, keys, tel, s.log)
	if err != nil || e == nil {
		return err
	}
	s.extAuthz = e
	s.closers.add("grpc listener", e.closeListener)
	return nil
}

// serve serves until the returned closer stops the server gracefully
// (health first reports not serving).
func (e *extAuthz) serve(log *slog.Logger) func(context.Context) error {
	go func() {
		if err := e.srv.Serve(e.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("grpc server", slog.String("error", err.Error()))
		}
	}()
	log.Info("ext_authz listening", slog.String("addr", e.ln.Addr().String()))
	return func(ctx context.Context) error {
		e.svc.Shutdown()
		done := make(chan struct{})
		go func() { e.srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			e.srv.Stop()
		}
		return nil
	}
}

// closeListener closes the listener of a server that never served.
func (e *extAuthz) closeListener(context.Context) error {
	if err := e.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
