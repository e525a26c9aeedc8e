package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// shutdownGrace is how long a stopping role lets requests in flight (long
// polls included) and running jobs finish.
const shutdownGrace = 30 * time.Second

// Role is a started role: its listener is open and it serves until the
// context it was started with ends, then shuts down in order. Wait returns
// once it has.
type Role struct {
	// URL is where the role answers: http://host:port.
	URL string
	// OpsURL is where `idv web` serves /metrics and the health endpoints
	// (web.ops_addr); empty for the other roles.
	OpsURL string
	done   chan struct{}
	err    error
}

// runRole runs the life of a role (serve, then stop) in the background.
func runRole(url string, life func() error) *Role {
	r := &Role{URL: url, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = life()
	}()
	return r
}

// Wait blocks until the role has stopped and returns why, nil after a clean
// shutdown.
func (r *Role) Wait() error {
	<-r.done
	return r.err
}

// listen opens addr and logs the URL it serves ("listening", with the
// role's name: the end-to-end tests and operators read it).
func listen(addr, role string, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", role, addr, err)
	}
	log.Info("listening", "role", role, "url", "http://"+ln.Addr().String())
	return ln, nil
}

// serve runs an HTTP server on ln until ctx ends, then shuts it down,
// letting in-flight requests (long polls included) finish for up to grace.
// onShutdown, if set, runs when shutdown starts (the web tier ends its long
// polls).
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, grace time.Duration, onShutdown func()) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // image uploads when pre-signed uploads are off
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if onShutdown != nil {
		srv.RegisterOnShutdown(onShutdown)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
	}
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		return e
	}
	return nil
}
