package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
)

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	s := NewLogSender(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	m, err := Composer{AppName: "Acme"}.Compose(contracts.EmailVerification, Data{
		To: "ada@example.com", UserID: "u1", URL: "http://127.0.0.1:8080/api/auth/verify-email?token=a.b.c&callbackURL=%2F",
	})
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), m))

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &info))
	require.Equal(t, "INFO", info["level"])
	require.Contains(t, info["msg"], m.URL, "the link is in the message itself")
	require.Equal(t, contracts.EmailVerification, info["kind"])
	require.Equal(t, "ada@example.com", info["to"])
	require.Equal(t, m.Subject, info["subject"])
	require.Equal(t, m.URL, info["url"])
	require.Equal(t, "u1", info["userId"])

	var debug map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &debug))
	require.Equal(t, "DEBUG", debug["level"])
	require.Equal(t, m.Text, debug["text"])
}

func TestLogSenderRejectsWhatSMTPWould(t *testing.T) {
	var buf bytes.Buffer
	s := NewLogSender(slog.New(slog.NewTextHandler(&buf, nil)))
	err := s.Send(context.Background(), contracts.Email{To: "a@example.com\r\nBcc: e@example.com", Subject: "x", Text: "x"})
	require.ErrorIs(t, err, ErrInvalidMessage)
	require.Empty(t, buf.String())
	require.NotNil(t, NewLogSender(nil).logger)
}
