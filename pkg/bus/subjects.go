package bus

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/authbus/authbus/pkg/contracts"
)

// Every NATS subject authbus uses is built by one function in this file, so
// that the installation prefix (AUTHBUS_SUBJECT_PREFIX) is applied in exactly
// one place. A prefix is given with or without its trailing dot: "acme" and
// "acme." both make "acme.user.created". The JetStream API and advisory
// subjects ($JS.…) belong to the account and are never prefixed.

// normPrefix returns p with exactly one trailing dot, or "" for no prefix.
func normPrefix(p string) string {
	if p == "" || strings.HasSuffix(p, ".") {
		return p
	}
	return p + "."
}

// EventSubject is the subject an event of type t is published on: "<prefix><type>".
func EventSubject(prefix string, t contracts.EventType) string {
	return normPrefix(prefix) + string(t)
}

// EventTypeFromSubject is the inverse of EventSubject: it strips the prefix
// from subject. ok is false when subject does not carry the prefix or names
// nothing after it. The type is returned even if the catalog does not know it
// (producers may be newer than consumers).
func EventTypeFromSubject(prefix, subject string) (t contracts.EventType, ok bool) {
	rest, found := strings.CutPrefix(subject, normPrefix(prefix))
	if !found || rest == "" {
		return "", false
	}
	return contracts.EventType(rest), true
}

// EventFilter turns a catalog subject pattern such as "user.*" (as written in
// a manifest) into the consumer filter subject of this installation.
func EventFilter(prefix, pattern string) string {
	return normPrefix(prefix) + pattern
}

// EventStreamSubjects lists the subjects of the events stream: one
// "<prefix><domain>.>" per catalog domain.
func EventStreamSubjects(prefix string) []string {
	domains := contracts.EventDomains()
	out := make([]string, len(domains))
	for i, d := range domains {
		out[i] = normPrefix(prefix) + d + ".>"
	}
	return out
}

// HookSubject is where plugin pluginID serves hook point p: "<prefix>hook.<point>.<pluginId>".
func HookSubject(prefix string, p contracts.HookPoint, pluginID string) string {
	return normPrefix(prefix) + p.Subject(pluginID)
}

// HookSubjects is the pattern matching every hook endpoint of pluginID:
// "<prefix>hook.*.<pluginId>" (for its subscribe permission).
func HookSubjects(prefix, pluginID string) string {
	return normPrefix(prefix) + "hook.*." + pluginID
}

// RegisterSubject is where plugin pluginID registers with the core:
// "<prefix>plugin.<id>.register". The id is in the subject so that the
// broker, which only lets a plugin's NATS user publish on its own id,
// vouches for who registers.
func RegisterSubject(prefix, pluginID string) string {
	return normPrefix(prefix) + "plugin." + pluginID + ".register"
}

// RegisterSubjects is the pattern the core serves registrations on: "<prefix>plugin.*.register".
func RegisterSubjects(prefix string) string {
	return normPrefix(prefix) + "plugin.*.register"
}

// ControlSubject is where the core instructs every instance of pluginID: "<prefix>plugin.<id>.control".
func ControlSubject(prefix, pluginID string) string {
	return normPrefix(prefix) + "plugin." + pluginID + ".control"
}

// HooksPlanSubject is where the core announces a changed hook plan: "<prefix>hooks.plan".
func HooksPlanSubject(prefix string) string {
	return normPrefix(prefix) + "hooks.plan"
}

// GatewayBodySubject is where one streamed body of a gateway exchange is
// pulled from: "<prefix>gateway.<id>.<requestId>.<part>", part "req" or "res".
func GatewayBodySubject(prefix, pluginID, requestID, part string) string {
	return normPrefix(prefix) + "gateway." + pluginID + "." + requestID + "." + part
}

// GatewaySubjects is the pattern of pluginID's streamed gateway bodies: "<prefix>gateway.<id>.>".
func GatewaySubjects(prefix, pluginID string) string {
	return normPrefix(prefix) + "gateway." + pluginID + ".>"
}

// HeartbeatSubject is where plugin pluginID sends heartbeats: "<prefix>plugin.<id>.heartbeat".
func HeartbeatSubject(prefix, pluginID string) string {
	return normPrefix(prefix) + "plugin." + pluginID + ".heartbeat"
}

// HeartbeatSubjects is the pattern the core serves heartbeats on: "<prefix>plugin.*.heartbeat".
func HeartbeatSubjects(prefix string) string {
	return normPrefix(prefix) + "plugin.*.heartbeat"
}

// InvokeSubject is where plugin pluginID serves method for other plugins:
// "<prefix>plugin.<id>.invoke.<method>".
func InvokeSubject(prefix, pluginID, method string) string {
	return normPrefix(prefix) + "plugin." + pluginID + ".invoke." + method
}

// PluginHTTPSubject is where plugin pluginID serves gateway requests: "<prefix>plugin.<id>.http".
func PluginHTTPSubject(prefix, pluginID string) string {
	return normPrefix(prefix) + "plugin." + pluginID + ".http"
}

// CoreSubject is where plugin callerID calls a core service method:
// "<prefix>core.<callerId>.<service>.<method>", e.g. core.audit.users.get.
// The caller's id is in the subject so that the broker vouches for it.
func CoreSubject(prefix, callerID, service, method string) string {
	return normPrefix(prefix) + "core." + callerID + "." + service + "." + method
}

// CoreSubjects is the pattern the core serves its services on: "<prefix>core.*.>".
func CoreSubjects(prefix string) string {
	return normPrefix(prefix) + "core.*.>"
}

// CoreCaller splits a core service subject into the caller's id and the
// "<service>.<method>" name; ok is false when subject is not one.
func CoreCaller(prefix, subject string) (callerID, method string, ok bool) {
	rest, found := strings.CutPrefix(subject, normPrefix(prefix)+"core.")
	if !found {
		return "", "", false
	}
	callerID, method, ok = strings.Cut(rest, ".")
	return callerID, method, ok && callerID != "" && method != ""
}

// DeadLetterSubject is where a message that consumer name gave up on is
// copied: "<prefix>dlq.<name>.<original subject without prefix>".
func DeadLetterSubject(prefix, name, original string) string {
	p := normPrefix(prefix)
	return p + "dlq." + name + "." + strings.TrimPrefix(original, p)
}

// DeadLetterSubjects is the pattern of consumer name's dead letters:
// "<prefix>dlq.<name>.>" (for its publish permission).
func DeadLetterSubjects(prefix, name string) string {
	return normPrefix(prefix) + "dlq." + name + ".>"
}

// DeadLetterStreamSubjects lists the subjects of the dead-letter stream: "<prefix>dlq.>".
func DeadLetterStreamSubjects(prefix string) []string {
	return []string{normPrefix(prefix) + "dlq.>"}
}

// MaxDeliveriesAdvisorySubject is the JetStream advisory published when a
// message of stream reaches a consumer's MaxDeliver, for any consumer.
func MaxDeliveriesAdvisorySubject(stream string) string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + ".*"
}

// ValidateSubjectPrefix checks an installation prefix: dot-separated tokens
// without wildcards or whitespace; one trailing dot is allowed.
func ValidateSubjectPrefix(p string) error {
	if p == "" {
		return nil
	}
	trimmed := strings.TrimSuffix(p, ".")
	if err := validateLiteralSubject(trimmed); err != nil {
		return fmt.Errorf("subject prefix %q: %w", p, err)
	}
	if strings.HasPrefix(trimmed, "$") || strings.HasPrefix(trimmed, "_INBOX") {
		return fmt.Errorf("subject prefix %q: must not start with $ or _INBOX (reserved)", p)
	}
	return nil
}

// validateLiteralSubject checks a subject without wildcards.
func validateLiteralSubject(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" {
			return errors.New("has an empty token")
		}
		if tok == "*" || tok == ">" || strings.ContainsAny(tok, "*>") {
			return errors.New("must not contain wildcards")
		}
		if strings.IndexFunc(tok, unicode.IsSpace) >= 0 {
			return errors.New("must not contain whitespace")
		}
	}
	return nil
}

// validateName checks a stream or consumer name: no whitespace, '.', '*',
// '>', path separators or control characters (the server's rules).
func validateName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s is required", kind)
	}
	if strings.ContainsAny(name, ".*>/\\") || strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) >= 0 {
		return fmt.Errorf("%s %q may not contain whitespace, '.', '*', '>' or path separators", kind, name)
	}
	return nil
}
