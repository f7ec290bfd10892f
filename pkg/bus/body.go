package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authbus/authbus/pkg/contracts"
)

// Streamed bodies (gateway requests and responses larger than one message)
// are pulled: the receiver sends a request per chunk to the body's subject,
// carrying the chunk's index in HeaderChunk, and the sender answers with up
// to ChunkSize bytes, marking the last one with contracts.HeaderEOF. Pulling
// gives flow control for free, and a chunk whose answer was lost is asked
// for again under the same index.

// HeaderChunk carries the index of the chunk asked for.
const HeaderChunk = "Authbus-Chunk"

// DefaultBodyIdleTimeout bounds the wait for the next chunk request (sender)
// or chunk answer (receiver).
const DefaultBodyIdleTimeout = 10 * time.Second

// ErrBodyAborted reports a streamed body ended early by its sender.
var ErrBodyAborted = errors.New("streamed body aborted by its sender")

// BodySender serves one streamed body on a subject.
type BodySender struct {
	sub   *nats.Subscription
	r     io.Reader
	chunk int
	idle  time.Duration
}

// NewBodySender subscribes to subject at once, so the subject may be handed
// to the receiver as soon as this returns; Serve then answers its pulls.
// chunkSize ≤ 0 means contracts.GatewayChunkSize, idle ≤ 0 DefaultBodyIdleTimeout.
func NewBodySender(nc *nats.Conn, subject string, r io.Reader, chunkSize int, idle time.Duration) (*BodySender, error) {
	if chunkSize <= 0 {
		chunkSize = contracts.GatewayChunkSize
	}
	if idle <= 0 {
		idle = DefaultBodyIdleTimeout
	}
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return nil, fmt.Errorf("serve body on %s: %w", subject, err)
	}
	return &BodySender{sub: sub, r: r, chunk: chunkSize, idle: idle}, nil
}

// Serve answers chunk requests until the last chunk was sent, the reader
// failed (the receiver is told with contracts.HeaderError), ctx ended, or no
// request came within the idle timeout. It always unsubscribes.
func (s *BodySender) Serve(ctx context.Context) error {
	defer s.sub.Unsubscribe() //nolint:errcheck // best effort; the subject is unique per body
	var (
		buf  = make([]byte, s.chunk)
		last []byte
		eof  bool
		next int
	)
	for {
		wctx, cancel := context.WithTimeout(ctx, s.idle)
		req, err := s.sub.NextMsgWithContext(wctx)
		cancel()
		if err != nil {
			return fmt.Errorf("serve body: waiting for the receiver: %w", err)
		}
		idx, err := strconv.Atoi(req.Header.Get(HeaderChunk))
		switch {
		case err != nil || idx > next || idx < next-1:
			reply := nats.NewMsg(req.Reply)
			reply.Header.Set(contracts.HeaderError, fmt.Sprintf("chunk %q asked for, next is %d", req.Header.Get(HeaderChunk), next))
			_ = req.RespondMsg(reply)
			return fmt.Errorf("serve body: receiver asked for chunk %q, next is %d", req.Header.Get(HeaderChunk), next)
		case idx == next:
			n, rerr := io.ReadFull(s.r, buf)
			switch {
			case rerr == nil:
			case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
				eof = true
			default:
				reply := nats.NewMsg(req.Reply)
				reply.Header.Set(contracts.HeaderError, rerr.Error())
				_ = req.RespondMsg(reply)
				return fmt.Errorf("serve body: read: %w", rerr)
			}
			last = append(last[:0], buf[:n]...)
			next++
		}
		// idx == next-1 resends the last chunk: its answer was lost.
		reply := nats.NewMsg(req.Reply)
		reply.Data = last
		if eof {
			reply.Header.Set(contracts.HeaderEOF, "1")
		}
		if err := req.RespondMsg(reply); err != nil {
			return fmt.Errorf("serve body: answer chunk %d: %w", idx, err)
		}
		if eof {
			return nil
		}
	}
}

// BodyReader pulls a streamed body chunk by chunk. It is an io.ReadCloser;
// Close stops pulling (the sender then gives up at its idle timeout).
type BodyReader struct {
	ctx     context.Context
	nc      *nats.Conn
	subject string
	idle    time.Duration
	retries int
	buf     []byte
	next    int
	done    bool
	err     error
}

// NewBodyReader returns a reader of the body served on subject. Each chunk
// is asked for within idle (≤ 0 means DefaultBodyIdleTimeout) and asked
// again up to twice when its answer is lost.
func NewBodyReader(ctx context.Context, nc *nats.Conn, subject string, idle time.Duration) *BodyReader {
	if idle <= 0 {
		idle = DefaultBodyIdleTimeout
	}
	return &BodyReader{ctx: ctx, nc: nc, subject: subject, idle: idle, retries: 2}
}

// Read implements io.Reader.
func (b *BodyReader) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.done {
			return 0, io.EOF
		}
		b.err = b.pull()
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *BodyReader) pull() error {
	h := nats.Header{}
	h.Set(HeaderChunk, strconv.Itoa(b.next))
	var last error
	for attempt := 0; attempt <= b.retries; attempt++ {
		cctx, cancel := context.WithTimeout(b.ctx, b.idle)
		msg, err := Request(cctx, b.nc, b.subject, nil, h, WithMaxReplyBytes(contracts.GatewayChunkSize*2))
		cancel()
		if errors.Is(err, ErrTimeout) && b.ctx.Err() == nil {
			last = err
			continue
		}
		if err != nil {
			return fmt.Errorf("read streamed body: chunk %d: %w", b.next, err)
		}
		if e := msg.Header.Get(contracts.HeaderError); e != "" {
			return fmt.Errorf("%w: %s", ErrBodyAborted, e)
		}
		b.buf = msg.Data
		b.done = msg.Header.Get(contracts.HeaderEOF) != ""
		b.next++
		return nil
	}
	return fmt.Errorf("read streamed body: chunk %d: %w", b.next, last)
}

// Close stops reading; later reads fail.
func (b *BodyReader) Close() error {
	if b.err == nil {
		b.err = errors.New("read streamed body: closed")
	}
	b.buf = nil
	return nil
}
