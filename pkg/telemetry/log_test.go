package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/telemetry"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    slog.Level
		wantErr string
	}{
		{name: "debug", in: "debug", want: slog.LevelDebug},
		{name: "info upper case", in: "INFO", want: slog.LevelInfo},
		{name: "warn", in: "warn", want: slog.LevelWarn},
		{name: "warning", in: "Warning", want: slog.LevelWarn},
		{name: "error with spaces", in: " error ", want: slog.LevelError},
		{name: "offset", in: "info+2", want: slog.LevelInfo + 2},
		{name: "empty", in: "", wantErr: "log level is empty: want debug, info, warn or error"},
		{name: "unknown", in: "verbose", wantErr: `log level "verbose": want debug, info, warn or error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := telemetry.ParseLevel(tt.in)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNewLogger(t *testing.T) {
	traceID := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	traced := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))

	tests := []struct {
		name  string
		log   func(l *slog.Logger)
		level slog.Level
		want  []map[string]any // without "time"
	}{
		{
			name:  "service attrs on every record",
			level: slog.LevelInfo,
			log:   func(l *slog.Logger) { l.Info("started", "addr", ":8080") },
			want: []map[string]any{{
				"level": "INFO", "msg": "started", "service": "core", "version": "v1.2.3", "addr": ":8080",
			}},
		},
		{
			name:  "below the level is dropped",
			level: slog.LevelWarn,
			log: func(l *slog.Logger) {
				l.Info("quiet")
				l.Warn("loud")
			},
			want: []map[string]any{{"level": "WARN", "msg": "loud", "service": "core", "version": "v1.2.3"}},
		},
		{
			name:  "trace and span ids from the context",
			level: slog.LevelInfo,
			log:   func(l *slog.Logger) { l.With("user", "u1").InfoContext(traced, "signed in") },
			want: []map[string]any{{
				"level": "INFO", "msg": "signed in", "service": "core", "version": "v1.2.3", "user": "u1",
				"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(telemetry.NewLogger(&buf, tt.level, telemetry.ServiceAttrs("core", "v1.2.3")...))

			var got []map[string]any
			dec := json.NewDecoder(&buf)
			for dec.More() {
				var rec map[string]any
				require.NoError(t, dec.Decode(&rec))
				require.Contains(t, rec, "time")
				delete(rec, "time")
				got = append(got, rec)
			}
			require.Equal(t, tt.want, got)
		})
	}
}
