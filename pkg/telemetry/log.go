package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns a logger writing one JSON object per line to w, dropping
// records below level, with attrs (e.g. service name and version) on every
// record. A record logged with a context that carries a valid span also gets
// that span's trace_id and span_id, so logs and traces join up.
// level may be a slog.Level or a *slog.LevelVar to change it at run time.
func NewLogger(w io.Writer, level slog.Leveler, attrs ...slog.Attr) *slog.Logger {
	var h slog.Handler = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	if len(attrs) > 0 {
		h = h.WithAttrs(attrs)
	}
	return slog.New(traceHandler{h})
}

// ServiceAttrs returns the attributes that name a service on each log record.
func ServiceAttrs(name, version string) []slog.Attr {
	return []slog.Attr{slog.String("service", name), slog.String("version", version)}
}

// ParseLevel parses a log level name: debug, info, warn (or warning) or
// error, in any case, optionally with an offset as slog writes it ("info+2").
func ParseLevel(s string) (slog.Level, error) {
	name := strings.TrimSpace(s)
	if strings.EqualFold(name, "warning") {
		name = "warn"
	}
	var l slog.Level
	if name == "" {
		return l, fmt.Errorf("log level is empty: want debug, info, warn or error")
	}
	if err := l.UnmarshalText([]byte(name)); err != nil {
		return l, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// traceHandler adds the current span's ids to each record.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
