// Package telemetrytest captures what code under test logs.
package telemetrytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"

	"github.com/authbus/authbus/pkg/telemetry"
)

// Logs holds the JSON lines a logger wrote, for a test to inspect. It is
// safe for concurrent use.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// NewLogger returns a debug-level telemetry logger (with attrs on every
// record) writing into the returned Logs, which are printed if the test
// fails.
func NewLogger(tb testing.TB, attrs ...slog.Attr) (*slog.Logger, *Logs) {
	tb.Helper()
	logs := &Logs{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("logs:\n%s", logs.String())
		}
	})
	return telemetry.NewLogger(logs, slog.LevelDebug, attrs...), logs
}

// Write appends log lines; it implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Entries decodes every record logged so far, oldest first; a line that is
// not a JSON object fails tb.
func (l *Logs) Entries(tb testing.TB) []map[string]any {
	tb.Helper()
	var entries []map[string]any
	sc := bufio.NewScanner(bytes.NewBufferString(l.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			tb.Errorf("telemetrytest: log line %q is not a JSON object: %v", sc.Text(), err)
			continue
		}
		entries = append(entries, e)
	}
	return entries
}

// WithMessage returns the records whose msg is msg, oldest first.
func (l *Logs) WithMessage(tb testing.TB, msg string) []map[string]any {
	tb.Helper()
	var found []map[string]any
	for _, e := range l.Entries(tb) {
		if e[slog.MessageKey] == msg {
			found = append(found, e)
		}
	}
	return found
}
