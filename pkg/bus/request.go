package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/authbus/authbus/pkg/contracts"
)

// DefaultMaxReplyBytes caps the size of a reply body Request accepts.
const DefaultMaxReplyBytes = 1 << 20

var (
	// ErrNoResponders means nobody serves the subject; NATS says so at once,
	// without waiting for the deadline. It also matches nats.ErrNoResponders.
	ErrNoResponders = errors.New("no responders")
	// ErrTimeout means no reply arrived before the deadline. It also matches
	// context.DeadlineExceeded. A request denied by NATS permissions looks
	// like this too (the server drops it silently).
	ErrTimeout = errors.New("request timed out")
	// ErrReplyTooLarge means the reply body exceeded the request's cap.
	ErrReplyTooLarge = errors.New("reply too large")
)

// ServiceError is an error reply in the NATS micro convention: headers
// Nats-Service-Error (description) and Nats-Service-Error-Code.
type ServiceError struct {
	// Subject is the subject the request went to.
	Subject string
	// Code is the Nats-Service-Error-Code header, e.g. "429".
	Code string
	// Description is the Nats-Service-Error header.
	Description string
	// Data is the reply body, if the service sent one.
	Data []byte
	// Header holds every reply header.
	Header nats.Header
}

// Error renders the code and description.
func (e *ServiceError) Error() string {
	return fmt.Sprintf("service error %s from %s: %s", e.Code, e.Subject, e.Description)
}

// Status is the code as a number, or 0 when it is not one.
func (e *ServiceError) Status() int {
	n, err := strconv.Atoi(e.Code)
	if err != nil {
		return 0
	}
	return n
}

// requestOptions are Request's knobs.
type requestOptions struct {
	timeout  time.Duration
	maxReply int
}

// RequestOption adjusts one Request.
type RequestOption func(*requestOptions)

// WithTimeout sets the deadline used when ctx has none (default
// DefaultRequestTimeout; services pass Config.RequestTimeout).
func WithTimeout(d time.Duration) RequestOption {
	return func(o *requestOptions) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithMaxReplyBytes caps the reply body (default DefaultMaxReplyBytes).
func WithMaxReplyBytes(n int) RequestOption {
	return func(o *requestOptions) {
		if n > 0 {
			o.maxReply = n
		}
	}
}

// Request sends data to subject and waits for one reply until ctx's
// deadline (or the WithTimeout default when ctx has none). The request
// carries the deadline in contracts.HeaderDeadline and ctx's trace context;
// header, if given, is sent too (it is not modified). Errors: ErrNoResponders,
// ErrTimeout, ErrReplyTooLarge, *ServiceError, or ctx's cancellation.
func Request(ctx context.Context, nc *nats.Conn, subject string, data []byte, header nats.Header, opts ...RequestOption) (*nats.Msg, error) {
	o := requestOptions{timeout: DefaultRequestTimeout, maxReply: DefaultMaxReplyBytes}
	for _, opt := range opts {
		opt(&o)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	h := make(nats.Header, len(header)+3)
	for k, vs := range header {
		h[k] = append([]string(nil), vs...)
	}
	h[contracts.HeaderDeadline] = []string{contracts.FormatDeadline(deadline)}
	InjectTrace(ctx, h)

	reply, err := nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: subject, Header: h, Data: data})
	switch {
	case err == nil:
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("request %s: %w (%w)", subject, ErrNoResponders, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, fmt.Errorf("request %s: %w (%w)", subject, ErrTimeout, context.DeadlineExceeded)
	default:
		return nil, fmt.Errorf("request %s: %w", subject, err)
	}
	if len(reply.Data) > o.maxReply {
		return nil, fmt.Errorf("request %s: %w: %d bytes, limit %d", subject, ErrReplyTooLarge, len(reply.Data), o.maxReply)
	}
	if code := reply.Header.Get(micro.ErrorCodeHeader); code != "" || reply.Header.Get(micro.ErrorHeader) != "" {
		return nil, &ServiceError{Subject: subject, Code: code, Description: reply.Header.Get(micro.ErrorHeader),
			Data: reply.Data, Header: reply.Header}
	}
	return reply, nil
}

// ContextFromHeader is the serving side of Request: it returns ctx with the
// caller's trace context and the caller's deadline (contracts.HeaderDeadline)
// applied, so work stops when nobody waits for the answer any more.
func ContextFromHeader(ctx context.Context, h nats.Header) (context.Context, context.CancelFunc) {
	ctx = ExtractTrace(ctx, h)
	if dl, ok := contracts.ParseDeadline(HeaderCarrier(h).Get(contracts.HeaderDeadline)); ok {
		return context.WithDeadline(ctx, dl)
	}
	return context.WithCancel(ctx)
}
