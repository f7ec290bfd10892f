package contracts

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// SpecVersion is the CloudEvents version of every envelope.
const SpecVersion = "1.0"

// ContentTypeJSON is the datacontenttype of every authbus event.
const ContentTypeJSON = "application/json"

// ErrInvalidEnvelope is wrapped by every envelope decoding error.
var ErrInvalidEnvelope = errors.New("invalid event envelope")

// Envelope is a CloudEvents 1.0 event in JSON structured mode, with the
// authbus extension attributes. Data holds the event's data struct as JSON.
type Envelope struct {
	// SpecVersion is always "1.0".
	SpecVersion string `json:"specversion"`
	// ID is a UUIDv7, unique per event; it is also the Nats-Msg-Id (dedup key).
	ID string `json:"id"`
	// Source identifies the producer, e.g. "authbus/core".
	Source string `json:"source"`
	// Type is the event type from the catalog.
	Type EventType `json:"type"`
	// Time is when the fact happened (UTC).
	Time time.Time `json:"time"`
	// Subject is the entity the event is about, usually the user id.
	Subject string `json:"subject,omitempty"`
	// DataContentType is "application/json".
	DataContentType string `json:"datacontenttype,omitempty"`
	// DataSchema names the data's schema and version, e.g. "authbus:user.created/v1".
	DataSchema string `json:"dataschema,omitempty"`
	// Data is the event data.
	Data json.RawMessage `json:"data,omitempty"`

	// OrgID (extension "orgid") is the organization the event concerns, if any.
	OrgID string `json:"orgid,omitempty"`
	// ActorID (extension "actorid") is the user or plugin that caused it, if any.
	ActorID string `json:"actorid,omitempty"`
	// IP (extension "ip") is the client address of the causing request, if any.
	IP string `json:"ip,omitempty"`
	// UserAgent (extension "useragent") is the client's user agent, if any.
	UserAgent string `json:"useragent,omitempty"`
	// TraceParent (extension "traceparent") is the W3C trace context of the causing request.
	TraceParent string `json:"traceparent,omitempty"`
}

// DataSchemaFor returns the dataschema value of an event type's current version.
func DataSchemaFor(t EventType) string {
	v := 1
	if s, ok := LookupEvent(t); ok {
		v = s.Version
	}
	return fmt.Sprintf("authbus:%s/v%d", t, v)
}

// NewEnvelope builds an envelope for a catalog event: it fills id (UUIDv7),
// time (now, UTC, millisecond precision), specversion, datacontenttype and
// dataschema, and marshals data. The extensions are left for the caller.
func NewEnvelope(source string, t EventType, subject string, data any) (Envelope, error) {
	if !t.Known() {
		return Envelope{}, fmt.Errorf("%w: unknown event type %q", ErrInvalidEnvelope, t)
	}
	if source == "" {
		return Envelope{}, fmt.Errorf("%w: source is required", ErrInvalidEnvelope)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s data: %w", t, err)
	}
	return Envelope{
		SpecVersion:     SpecVersion,
		ID:              NewUUIDv7(),
		Source:          source,
		Type:            t,
		Time:            time.Now().UTC().Truncate(time.Millisecond),
		Subject:         subject,
		DataContentType: ContentTypeJSON,
		DataSchema:      DataSchemaFor(t),
		Data:            raw,
	}, nil
}

// DecodeData unmarshals the envelope's data into v.
func (e Envelope) DecodeData(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("decode %s data: %w", e.Type, err)
	}
	return nil
}

// Validate reports every missing or malformed required attribute at once.
func (e Envelope) Validate() error {
	var errs []error
	if e.SpecVersion == "" {
		errs = append(errs, errors.New("specversion is required"))
	} else if e.SpecVersion != SpecVersion {
		errs = append(errs, fmt.Errorf("specversion %q is not %q", e.SpecVersion, SpecVersion))
	}
	if e.ID == "" {
		errs = append(errs, errors.New("id is required"))
	}
	if e.Source == "" {
		errs = append(errs, errors.New("source is required"))
	}
	if e.Type == "" {
		errs = append(errs, errors.New("type is required"))
	}
	if e.Time.IsZero() {
		errs = append(errs, errors.New("time is required"))
	}
	if e.DataContentType != "" && e.DataContentType != ContentTypeJSON {
		errs = append(errs, fmt.Errorf("datacontenttype %q is not %q", e.DataContentType, ContentTypeJSON))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidEnvelope, errors.Join(errs...))
}

// DecodeEnvelope parses a JSON structured-mode CloudEvent and rejects one
// that misses a required attribute (specversion, id, source, type, time).
// Unknown event types are accepted (consumers may be older than producers).
func DecodeEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", ErrInvalidEnvelope, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Envelope{}, fmt.Errorf("%w: trailing data after the event object", ErrInvalidEnvelope)
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

// uuidState keeps UUIDv7s generated in one process monotonic within a millisecond.
var uuidState struct {
	sync.Mutex
	lastMs  int64
	counter uint16 // 12 bits of rand_a used as a counter (RFC 9562 method 1)
}

// NewUUIDv7 returns a random, time-ordered RFC 9562 version 7 UUID in its
// canonical 36-character form. IDs made by one process sort in creation order.
func NewUUIDv7() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("contracts: crypto/rand failed: " + err.Error())
	}
	ms := time.Now().UnixMilli()
	uuidState.Lock()
	if ms <= uuidState.lastMs {
		ms = uuidState.lastMs
		uuidState.counter++
		if uuidState.counter > 0x0fff {
			ms++
			uuidState.counter = 0
		}
	} else {
		uuidState.counter = binary.BigEndian.Uint16(b[6:8]) & 0x07ff // leave room to count up
	}
	uuidState.lastMs = ms
	counter := uuidState.counter
	uuidState.Unlock()

	b[0] = byte(ms >> 40)
	b[1] = byte(ms >> 32)
	b[2] = byte(ms >> 24)
	b[3] = byte(ms >> 16)
	b[4] = byte(ms >> 8)
	b[5] = byte(ms)
	b[6] = 0x70 | byte(counter>>8)&0x0f
	b[7] = byte(counter)
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
