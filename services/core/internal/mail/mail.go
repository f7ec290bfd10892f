// Package mail delivers the core's email: verification and password-reset links,
// change-email and delete-account confirmations (contract §1.8–§1.11).
//
// A Sender takes a contracts.Email — the same value the beforeEmailSend and
// afterEmailSend hook points carry — and delivers it. SMTPSender speaks SMTP
// (STARTTLS, implicit TLS, AUTH PLAIN/LOGIN) with every step bounded by the
// caller's context and a timeout; LogSender prints the message and its link
// through slog for `authbus dev`. Composer writes the messages themselves.
// Package mailtest runs a real SMTP server inside a test.
package mail

import (
	"context"
	"errors"

	"github.com/authbus/authbus/pkg/contracts"
)

// Sender delivers one message. Implementations are safe for concurrent use.
type Sender interface {
	// Send delivers m or returns why it could not; it returns when ctx is done at the latest.
	Send(ctx context.Context, m contracts.Email) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, m contracts.Email) error

// Send calls f(ctx, m).
func (f SenderFunc) Send(ctx context.Context, m contracts.Email) error { return f(ctx, m) }

var (
	// ErrInvalidMessage is wrapped by every error about a message that cannot be
	// sent as it is (bad recipient, line break in the subject, no body, ...).
	ErrInvalidMessage = errors.New("invalid message")
	// ErrMessageTooLarge means the encoded message exceeds this sender's or the server's size limit.
	ErrMessageTooLarge = errors.New("message too large")
)

var (
	_ Sender = (*SMTPSender)(nil)
	_ Sender = (*LogSender)(nil)
	_ Sender = SenderFunc(nil)
)
