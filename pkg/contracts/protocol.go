package contracts

import (
	"encoding/json"
	"net/http"
	"time"
)

// The plugin protocol. Subjects are built by pkg/bus (with the installation
// prefix); this file holds the bodies exchanged on them.
//
//	plugin.<id>.register    plugin → core   request  RegisterRequest → RegisterReply
//	plugin.<id>.heartbeat   plugin → core   request  Heartbeat → HeartbeatReply
//	plugin.<id>.control     core → plugin   publish  Control (every instance)
//	hook.<point>.<id>       caller → plugin request  HookRequest → HookReply (queue group <id>)
//	plugin.<id>.http        core → plugin   request  GatewayRequest → GatewayResponse (queue group <id>)
//	gateway.<id>.<req>.*    body chunks of large gateway requests/responses (pull: BodyChunkRequest)
//	plugin.<id>.invoke.<m>  plugin → plugin request  raw JSON → raw JSON (queue group <id>)
//	core.<caller>.<svc>     plugin → core   request  core services (CoreService*), caller id from the subject
//	hooks.plan              core → plugins  publish  HookPlan (plugins exposing hook points)
//
// Identity is the NATS user: a plugin's user may only publish on subjects
// holding its own id, so the id token in a subject is trustworthy.

// ProtocolVersion is the version of the plugin protocol in this package.
const ProtocolVersion = "1"

// InstanceInfo identifies one running process of a plugin.
type InstanceInfo struct {
	// ID is unique per process start (UUIDv7).
	ID string `json:"id"`
	// Host is the host or pod name.
	Host string `json:"host,omitempty"`
	// PID is the process id.
	PID int `json:"pid,omitempty"`
	// StartedAt is when the process started.
	StartedAt time.Time `json:"startedAt"`
	// SDK names the SDK and its version, e.g. "authbus-go/0.1.0".
	SDK string `json:"sdk,omitempty"`
}

// RegisterRequest is sent by a plugin instance on plugin.<id>.register.
type RegisterRequest struct {
	// Protocol is ProtocolVersion.
	Protocol string `json:"protocol"`
	// Manifest is the plugin's manifest; its id must match the subject.
	Manifest Manifest `json:"manifest"`
	// Instance identifies the registering process.
	Instance InstanceInfo `json:"instance"`
}

// RegisterStatus is the core's answer to a registration.
type RegisterStatus string

const (
	// RegisterAccepted: the plugin is active (or will be once its dependencies are).
	RegisterAccepted RegisterStatus = "accepted"
	// RegisterRefused: the plugin may not run; Reasons say why.
	RegisterRefused RegisterStatus = "refused"
)

// ConsumerInfo names the durable consumer the core created for a plugin.
type ConsumerInfo struct {
	// Stream is the event stream (AUTH_EVENTS).
	Stream string `json:"stream"`
	// Durable is the consumer name ("plugin-<id>"), shared by the plugin's replicas.
	Durable string `json:"durable"`
	// MaxDeliver is the number of deliveries before a message is dead-lettered.
	MaxDeliver int `json:"maxDeliver"`
	// DeadLetterSubject is where failed events are copied.
	DeadLetterSubject string `json:"deadLetterSubject"`
}

// RegisterReply is the core's answer on plugin.<id>.register.
type RegisterReply struct {
	// Status is accepted or refused.
	Status RegisterStatus `json:"status"`
	// Reasons lists every problem when refused, each a sentence a person can act on.
	Reasons []Problem `json:"reasons,omitempty"`
	// Retryable is true when a refusal may resolve itself (a required dependency not yet active).
	Retryable bool `json:"retryable,omitempty"`
	// Config is the effective configuration: defaults, then the operator's values, validated.
	Config json.RawMessage `json:"config,omitempty"`
	// Granted lists the permissions the operator granted.
	Granted []Permission `json:"granted,omitempty"`
	// HeartbeatInterval is how often the instance must heartbeat.
	HeartbeatInterval Duration `json:"heartbeatInterval,omitempty"`
	// Consumer is set when the manifest declares events.
	Consumer *ConsumerInfo `json:"consumer,omitempty"`
	// KVBucket is the plugin's own key-value bucket.
	KVBucket string `json:"kvBucket,omitempty"`
	// CoreVersion is the core's version.
	CoreVersion string `json:"coreVersion"`
	// SubjectPrefix is the installation's subject prefix.
	SubjectPrefix string `json:"subjectPrefix,omitempty"`
}

// Heartbeat is sent by each instance on plugin.<id>.heartbeat.
type Heartbeat struct {
	// Instance is the sending instance's id.
	Instance string `json:"instance"`
	// Version is the plugin version the instance runs.
	Version string `json:"version"`
	// InFlight is the number of requests and events being handled.
	InFlight int `json:"inFlight"`
}

// HeartbeatStatus tells an instance whether the core knows it.
type HeartbeatStatus string

const (
	// HeartbeatOK: the instance is registered.
	HeartbeatOK HeartbeatStatus = "ok"
	// HeartbeatUnknown: the core does not know the instance; it must register again.
	HeartbeatUnknown HeartbeatStatus = "unknown"
	// HeartbeatReplaced: a newer version of the plugin replaced this one; the instance should stop.
	HeartbeatReplaced HeartbeatStatus = "replaced"
)

// HeartbeatReply answers a Heartbeat.
type HeartbeatReply struct {
	// Status is ok, unknown or replaced.
	Status HeartbeatStatus `json:"status"`
}

// ControlAction is an instruction from the core to every instance of a plugin.
type ControlAction string

const (
	// ControlStop asks the plugin to drain and stop (core shutdown, in reverse dependency order).
	ControlStop ControlAction = "stop"
)

// Control is published by the core on plugin.<id>.control.
type Control struct {
	// Action is what to do.
	Action ControlAction `json:"action"`
	// Reason is human-readable context.
	Reason string `json:"reason,omitempty"`
}

// HookTarget is one plugin called at a hook point.
type HookTarget struct {
	// Plugin is the plugin id.
	Plugin string `json:"plugin"`
	// Timeout is the deadline of one call.
	Timeout Duration `json:"timeout"`
	// FailurePolicy applies on timeout and no responders.
	FailurePolicy FailurePolicy `json:"failurePolicy"`
}

// HookPlan lists, per hook point, the plugins to call in order.
type HookPlan struct {
	// Revision increases with every change.
	Revision uint64 `json:"revision"`
	// Points maps a hook point to its ordered targets.
	Points map[HookPoint][]HookTarget `json:"points"`
}

// GatewayRequest is an HTTP request the core's gateway forwards to a plugin
// route on plugin.<id>.http.
type GatewayRequest struct {
	// ID is unique per request (UUIDv7).
	ID string `json:"id"`
	// Method is the HTTP method.
	Method string `json:"method"`
	// Path is the request path relative to the plugin's mount, starting with "/".
	Path string `json:"path"`
	// Query is the raw query string.
	Query string `json:"query,omitempty"`
	// Header holds the forwarded request headers (cookies and authorization are never forwarded).
	Header http.Header `json:"header,omitempty"`
	// RemoteAddr is the client address as the core determined it.
	RemoteAddr string `json:"remoteAddr,omitempty"`
	// User is the signed-in user, if any.
	User *User `json:"user,omitempty"`
	// Session is the caller's session, if any.
	Session *Session `json:"session,omitempty"`
	// Body is the whole body when it is small.
	Body []byte `json:"body,omitempty"`
	// BodyStream is set when the body is streamed: the subject to pull chunks from.
	BodyStream string `json:"bodyStream,omitempty"`
	// ContentLength is the body size when known, -1 otherwise.
	ContentLength int64 `json:"contentLength"`
}

// GatewayResponse is a plugin route's answer.
type GatewayResponse struct {
	// Status is the HTTP status.
	Status int `json:"status"`
	// Header holds the response headers.
	Header http.Header `json:"header,omitempty"`
	// Body is the whole body when it is small.
	Body []byte `json:"body,omitempty"`
	// BodyStream is set when the body is streamed: the subject to pull chunks from.
	BodyStream string `json:"bodyStream,omitempty"`
	// RefreshSession asks the core to re-issue the caller's session cookie
	// (after the plugin changed a session field, like the active organization).
	RefreshSession bool `json:"refreshSession,omitempty"`
}

// Gateway body streaming. A body larger than GatewayInlineBodyLimit is not
// sent inline: BodyStream names a subject the receiver sends requests to,
// each answered with the next chunk of at most GatewayChunkSize bytes; the
// last chunk carries HeaderEOF. An answer carrying HeaderError instead ends
// the stream with an error.
const (
	// GatewayInlineBodyLimit is the largest body sent inside a gateway message.
	GatewayInlineBodyLimit = 256 << 10
	// GatewayChunkSize is the size of one streamed body chunk.
	GatewayChunkSize = 256 << 10
	// DefaultRouteMaxBodyBytes caps a route's request body when its declaration sets no limit.
	DefaultRouteMaxBodyBytes = 1 << 20
	// HeaderEOF marks the last chunk of a streamed body.
	HeaderEOF = "Authbus-Eof"
	// HeaderError carries an error text that ends a streamed body.
	HeaderError = "Authbus-Error"
)
