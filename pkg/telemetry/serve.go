package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Ops server limits. There is no whole-request read or write timeout, so
// that a handler streaming a large body can set its own deadlines through
// http.ResponseController.
const (
	ReadHeaderTimeout = 10 * time.Second // to send the request line and headers
	IdleTimeout       = 2 * time.Minute  // a kept-alive connection may stay idle
	MaxHeaderBytes    = 64 << 10         // request line and headers
	ShutdownTimeout   = 10 * time.Second // in-flight requests get to finish
)

// ListenAndServe listens on addr (host:port) and calls Serve.
func ListenAndServe(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("telemetry: listen %s: %w", addr, err)
	}
	return Serve(ctx, ln, h)
}

// Serve serves HTTP on ln with h until ctx is done, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish within
// ShutdownTimeout, closes what is left, and returns nil. It returns an error
// only when serving fails. Serve closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("telemetry: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	// ctx is done; the shutdown needs a deadline of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(fmt.Errorf("requests still running after %s were cut off", ShutdownTimeout), srv.Close())
	}
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("telemetry: shut down %s: %w", ln.Addr(), err)
	}
	return nil
}
