package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/authbus/authbus/pkg/contracts"
)

// ContentTypeCloudEvents is the content-type header of an event message
// (CloudEvents NATS binding, structured mode).
const ContentTypeCloudEvents = "application/cloudevents+json"

// HeaderContentType is the header carrying ContentTypeCloudEvents.
const HeaderContentType = "Content-Type"

// EventMsg builds the message that publishes env: subject from its type and
// the prefix, JSON body, Nats-Msg-Id = env.ID (deduplication), content-type,
// and the W3C trace headers of ctx's span. When ctx has no span the
// envelope's traceparent extension is used instead; when ctx has one and the
// envelope has none, the envelope gets ctx's traceparent so body and headers
// agree.
func EventMsg(ctx context.Context, prefix string, env contracts.Envelope) (*nats.Msg, error) {
	if err := env.Validate(); err != nil {
		return nil, fmt.Errorf("build event message: %w", err)
	}
	h := make(nats.Header, 4)
	if trace.SpanContextFromContext(ctx).IsValid() {
		InjectTrace(ctx, h)
		if env.TraceParent == "" {
			env.TraceParent = HeaderCarrier(h).Get(contracts.HeaderTraceParent)
		}
	} else if tctx, ok := traceParentContext(ctx, env.TraceParent); ok {
		InjectTrace(tctx, h)
	}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("build event message %s: %w", env.Type, err)
	}
	h[jetstream.MsgIDHeader] = []string{env.ID}
	h[HeaderContentType] = []string{ContentTypeCloudEvents}
	return &nats.Msg{Subject: EventSubject(prefix, env.Type), Header: h, Data: body}, nil
}

// encodedEnvelope holds the attributes EncodedEventMsg needs from a body.
type encodedEnvelope struct {
	ID          string              `json:"id"`
	Type        contracts.EventType `json:"type"`
	TraceParent string              `json:"traceparent"`
}

// EncodedEventMsg builds the message for an envelope that is already
// serialised (the outbox relay's rows), with the same subject and headers
// EventMsg gives: id, type and traceparent are read from the body itself so
// they cannot disagree with it. The body is sent unchanged.
func EncodedEventMsg(ctx context.Context, prefix string, body []byte) (*nats.Msg, error) {
	var e encodedEnvelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("build event message: %w: %w", contracts.ErrInvalidEnvelope, err)
	}
	var errs []error
	if e.ID == "" {
		errs = append(errs, errors.New("id is required"))
	}
	if e.Type == "" {
		errs = append(errs, errors.New("type is required"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("build event message: %w: %w", contracts.ErrInvalidEnvelope, errors.Join(errs...))
	}
	h := make(nats.Header, 4)
	if trace.SpanContextFromContext(ctx).IsValid() {
		InjectTrace(ctx, h)
	} else if tctx, ok := traceParentContext(ctx, e.TraceParent); ok {
		InjectTrace(tctx, h)
	}
	h[jetstream.MsgIDHeader] = []string{e.ID}
	h[HeaderContentType] = []string{ContentTypeCloudEvents}
	return &nats.Msg{Subject: EventSubject(prefix, e.Type), Header: h, Data: body}, nil
}

// Publish publishes env synchronously and returns the stream's
// acknowledgement (Duplicate is true when the id was already stored within
// the duplicate window). It expects the stream DefaultStreamName; pass
// jetstream.WithExpectStream(name) in opts for another. An error means the
// outcome is unknown: the message may still have been stored, so retry with
// the same envelope (same id) and let deduplication decide.
func Publish(ctx context.Context, js jetstream.JetStream, prefix string, env contracts.Envelope, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	msg, err := EventMsg(ctx, prefix, env)
	if err != nil {
		return nil, err
	}
	all := make([]jetstream.PublishOpt, 0, len(opts)+1)
	all = append(all, jetstream.WithExpectStream(DefaultStreamName))
	all = append(all, opts...)
	ack, err := js.PublishMsg(ctx, msg, all...)
	if err != nil {
		return nil, fmt.Errorf("publish %s %s: %w", msg.Subject, env.ID, err)
	}
	return ack, nil
}

// DecodeEvent decodes the envelope carried by a consumed message. A body
// that is not a valid envelope will never become one, so the error is
// marked Permanent (the message goes to the dead-letter subject at once).
func DecodeEvent(msg jetstream.Msg) (contracts.Envelope, error) {
	env, err := contracts.DecodeEnvelope(msg.Data())
	if err != nil {
		return contracts.Envelope{}, Permanent(fmt.Errorf("decode event on %s: %w", msg.Subject(), err))
	}
	return env, nil
}
