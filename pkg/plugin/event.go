package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
)

// Event is one delivered event with its data decoded into T.
type Event[T any] struct {
	// ID is the event id (UUIDv7): handlers are idempotent on it, since
	// delivery is at least once.
	ID string
	// Type is the event type, e.g. contracts.EventUserCreated.
	Type contracts.EventType
	// Subject is the entity the event is about, usually the user id.
	Subject string
	// Time is when the fact happened.
	Time time.Time
	// Data is the event's data.
	Data T
	// Envelope is the whole CloudEvent, extensions (orgid, actorid, ip, …) included.
	Envelope contracts.Envelope
	// Delivery is 1 on the first delivery, 2 on the first redelivery, ….
	Delivery int
}

// eventRoute is one OnEvent registration.
type eventRoute[Cfg any] struct {
	pattern string
	handle  func(ctx context.Context, c *Context[Cfg], env contracts.Envelope, delivery int) error
}

// Permanent marks err as one that retrying cannot fix: the event is copied
// to the plugin's dead-letter subject at once instead of being redelivered.
// Permanent(nil) is nil.
func Permanent(err error) error { return bus.Permanent(err) }

// OnEvent registers h for the events matching pattern, a catalog subject
// pattern without the installation prefix ("user.created", "user.*",
// "auth.>"); the manifest's events must deliver them. The events arrive on
// the plugin's durable consumer, shared by its replicas (each event is
// handled by one replica, at least once). h returning nil acks the event;
// an error redelivers it after a back-off, and after the consumer's
// MaxDeliver deliveries (or at once for a Permanent error) the event is
// copied to the dead-letter subject. Data that does not decode into T is
// dead-lettered at once. When several patterns match an event, their
// handlers run in registration order and the first error stops the rest.
// OnEvent panics on a nil handler or a pattern registered twice.
func OnEvent[Cfg, T any](p *Plugin[Cfg], pattern string, h func(ctx context.Context, c *Context[Cfg], ev Event[T]) error) {
	if h == nil {
		panic("plugin.OnEvent: nil handler for " + pattern)
	}
	p.register("event handler "+pattern, func() {
		for _, r := range p.events {
			if r.pattern == pattern {
				panic(fmt.Sprintf("plugin.OnEvent: second handler for %q", pattern))
			}
		}
		p.events = append(p.events, eventRoute[Cfg]{pattern: pattern,
			handle: func(ctx context.Context, c *Context[Cfg], env contracts.Envelope, delivery int) error {
				var data T
				if err := env.DecodeData(&data); err != nil {
					return Permanent(err)
				}
				return h(ctx, c, Event[T]{ID: env.ID, Type: env.Type, Subject: env.Subject, Time: env.Time,
					Data: data, Envelope: env, Delivery: delivery})
			}})
	})
}
