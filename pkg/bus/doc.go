// Package bus is authbus' access to NATS and JetStream, built directly on
// nats.go's jetstream and micro packages: connecting (Config, Connect), an
// embedded server (RunServer), the events and dead-letter streams
// (EnsureStream), every subject name (EventSubject, HookSubject, …),
// publishing envelopes with deduplication and W3C trace headers (Publish,
// EventMsg), durable pull consumption with back-off and dead-lettering
// (EnsureConsumer, Consumer, WatchMaxDeliveries), a Watermill subscriber over
// the same consumers (Subscriber), request/reply with deadlines (Request) and
// a case-insensitive trace carrier (HeaderCarrier).
//
// Delivery is at least once: handlers must be idempotent on the event id.
package bus
