package mail

import (
	"context"
	"log/slog"

	"github.com/authbus/authbus/pkg/contracts"
)

// LogSender delivers nothing: it logs each message through slog so that a
// developer running `authbus dev` can open the verification or reset link from
// the terminal. The link is the "url" attribute; bodies are logged at debug level.
type LogSender struct {
	logger *slog.Logger
}

// NewLogSender returns a LogSender writing to logger (slog.Default() when nil).
func NewLogSender(logger *slog.Logger) *LogSender {
	if logger == nil {
		logger = slog.Default()
	}
	return &LogSender{logger: logger}
}

// Send checks m as SMTPSender would (so dev catches what production would
// refuse) and logs it.
func (s *LogSender) Send(ctx context.Context, m contracts.Email) error {
	if err := CheckMessage(m); err != nil {
		return err
	}
	msg := "mail not delivered (log mailer)"
	if m.URL != "" {
		msg = "mail not delivered (log mailer); open the link to continue: " + m.URL
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, msg,
		slog.String("kind", m.Kind),
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("url", m.URL),
		slog.String("userId", m.UserID),
	)
	s.logger.LogAttrs(ctx, slog.LevelDebug, "mail body (log mailer)",
		slog.String("to", m.To),
		slog.String("text", m.Text),
		slog.Bool("html", m.HTML != ""),
	)
	return nil
}
