package plugintest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
)

// Published is an event a test published.
type Published struct {
	// Envelope is the event as published.
	Envelope contracts.Envelope
	// Sequence is its sequence in the events stream.
	Sequence uint64
}

// EventStatus is what the server reports about one event and one
// plugin's durable: acks, naks, terminations and dead-letter copies.
type EventStatus struct {
	// Acked is true once a handler acknowledged it.
	Acked bool
	// Naks counts negative acknowledgements (handler errors, shutdown hand-backs).
	Naks int
	// Deliveries is the highest delivery count the server reported.
	Deliveries int
	// Terminated is true once it was terminated (dead-lettered by the handler's verdict).
	Terminated bool
	// DeadLetter is set once its copy reached the dead-letter subject.
	DeadLetter *DeadLetter
}

// DeadLetter describes a dead-letter copy.
type DeadLetter struct {
	// Subject is where the copy was published.
	Subject string
	// Reason is one of bus.DeadLetterReason*.
	Reason string
	// Error is the handler's last error.
	Error string
	// Deliveries is how often the event had been delivered.
	Deliveries int
}

// Acked is a WaitEvent condition: the event was acknowledged.
func Acked(s EventStatus) bool { return s.Acked }

// DeadLettered is a WaitEvent condition: the event's copy reached the dead-letter subject.
func DeadLettered(s EventStatus) bool { return s.DeadLetter != nil }

// Nacked returns a WaitEvent condition: the event was nacked at least n times.
func Nacked(n int) func(EventStatus) bool { return func(s EventStatus) bool { return s.Naks >= n } }

// Publish publishes an event of type typ with data, as the core's outbox
// relay would, and returns it with its stream sequence.
func (c *Core) Publish(t testing.TB, typ contracts.EventType, data any) Published {
	t.Helper()
	env, err := contracts.NewEnvelope("authbus/plugintest", typ, "", data)
	if err != nil {
		t.Fatalf("plugintest: publish %s: %v", typ, err)
	}
	return c.PublishEnvelope(t, env)
}

// PublishEnvelope publishes env as is.
func (c *Core) PublishEnvelope(t testing.TB, env contracts.Envelope) Published {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := bus.Publish(ctx, c.js, c.o.prefix, env)
	if err != nil {
		t.Fatalf("plugintest: publish %s: %v", env.Type, err)
	}
	return Published{Envelope: env, Sequence: ack.Sequence}
}

// EventStatus returns what the server reported so far about ev on pluginID's durable.
func (c *Core) EventStatus(pluginID string, ev Published) EventStatus {
	return c.events.status("plugin-"+pluginID, ev.Sequence)
}

// WaitEvent waits until cond holds for ev on pluginID's durable and
// returns the status; it fails the test after WaitTimeout.
func (c *Core) WaitEvent(t testing.TB, pluginID string, ev Published, cond func(EventStatus) bool) EventStatus {
	t.Helper()
	st, err := c.waitEvent(pluginID, ev, cond)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	return st
}

// waitEvent polls until cond holds for ev, or WaitTimeout passed.
func (c *Core) waitEvent(pluginID string, ev Published, cond func(EventStatus) bool) (EventStatus, error) {
	deadline := time.Now().Add(WaitTimeout)
	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	for {
		st := c.EventStatus(pluginID, ev)
		if cond(st) {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("event %s (seq %d) on plugin-%s after %s: %+v", ev.Envelope.Type, ev.Sequence, pluginID, WaitTimeout, st)
		}
		<-ticker.C
	}
}

// trackKey names one message on one durable.
type trackKey struct {
	consumer string
	seq      uint64
}

// eventTracker records the server's ack metrics, nak and termination
// advisories, and dead-letter copies.
type eventTracker struct {
	mu     sync.Mutex
	events map[trackKey]*EventStatus
}

// advisory is the part of the ack metric and of the nak, terminated and
// max-deliveries advisories the tracker reads.
type advisory struct {
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

func newEventTracker(t testing.TB, nc *nats.Conn, stream, prefix string) *eventTracker {
	tr := &eventTracker{events: map[trackKey]*EventStatus{}}
	subscribe := func(subject string, fn func(*EventStatus, advisory, *nats.Msg)) {
		_, err := nc.Subscribe(subject, func(m *nats.Msg) {
			var a advisory
			if err := json.Unmarshal(m.Data, &a); err != nil || a.StreamSeq == 0 {
				return
			}
			tr.mu.Lock()
			defer tr.mu.Unlock()
			st := tr.get(trackKey{a.Consumer, a.StreamSeq})
			st.Deliveries = max(st.Deliveries, int(a.Deliveries))
			fn(st, a, m)
		})
		if err != nil {
			t.Fatalf("plugintest: subscribe %s: %v", subject, err)
		}
	}
	subscribe("$JS.EVENT.METRIC.CONSUMER.ACK."+stream+".*", func(st *EventStatus, _ advisory, _ *nats.Msg) { st.Acked = true })
	subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED."+stream+".*", func(st *EventStatus, _ advisory, _ *nats.Msg) { st.Naks++ })
	subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED."+stream+".*", func(st *EventStatus, _ advisory, _ *nats.Msg) { st.Terminated = true })
	subscribe(bus.MaxDeliveriesAdvisorySubject(stream), func(*EventStatus, advisory, *nats.Msg) {})
	_, err := nc.Subscribe(bus.DeadLetterStreamSubjects(prefix)[0], func(m *nats.Msg) {
		seq, err := strconv.ParseUint(m.Header.Get(bus.HeaderDeadLetterSequence), 10, 64)
		if err != nil {
			return
		}
		deliveries, _ := strconv.Atoi(m.Header.Get(bus.HeaderDeadLetterDeliveries))
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.get(trackKey{m.Header.Get(bus.HeaderDeadLetterConsumer), seq}).DeadLetter = &DeadLetter{
			Subject: m.Subject, Reason: m.Header.Get(bus.HeaderDeadLetterReason),
			Error: m.Header.Get(bus.HeaderDeadLetterError), Deliveries: deliveries}
	})
	if err != nil {
		t.Fatalf("plugintest: subscribe to dead letters: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	return tr
}

// get returns the status of key, creating it; tr.mu must be held.
func (tr *eventTracker) get(key trackKey) *EventStatus {
	st := tr.events[key]
	if st == nil {
		st = &EventStatus{}
		tr.events[key] = st
	}
	return st
}

// status returns a copy of the status of (consumer, seq).
func (tr *eventTracker) status(consumer string, seq uint64) EventStatus {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	st, ok := tr.events[trackKey{consumer, seq}]
	if !ok {
		return EventStatus{}
	}
	out := *st
	if st.DeadLetter != nil {
		dl := *st.DeadLetter
		out.DeadLetter = &dl
	}
	return out
}
