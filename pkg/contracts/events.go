package contracts

import (
	"sort"
	"strings"
	"time"
)

// EventType names an event. It is also the NATS subject the event is
// published on (behind an optional installation prefix). Names are facts in
// the past tense and never change once published.
type EventType string

// The event catalog. It lives here and nowhere else.
const (
	EventUserCreated             EventType = "user.created"
	EventUserUpdated             EventType = "user.updated"
	EventUserDeleted             EventType = "user.deleted"
	EventUserSuspended           EventType = "user.suspended"
	EventUserActivated           EventType = "user.activated"
	EventLoginSucceeded          EventType = "auth.login.success"
	EventLoginFailed             EventType = "auth.login.failed"
	EventLogout                  EventType = "auth.logout"
	EventTokenRefreshed          EventType = "auth.token.refresh"
	EventPasswordChanged         EventType = "auth.password.changed"
	EventSessionCreated          EventType = "session.created"
	EventSessionExpired          EventType = "session.expired"
	EventSessionRevoked          EventType = "session.revoked"
	EventOrgCreated              EventType = "org.created"
	EventOrgUpdated              EventType = "org.updated"
	EventOrgDeleted              EventType = "org.deleted"
	EventOrgMemberAdded          EventType = "org.member.added"
	EventOrgMemberRemoved        EventType = "org.member.removed"
	EventOrgRoleChanged          EventType = "org.role.changed"
	EventSecurityThreatDetected  EventType = "security.threat.detected"
	EventSecurityBreachSuspected EventType = "security.breach.suspected"
	EventSecurityMFAEnabled      EventType = "security.mfa.enabled"
	EventSecurityMFADisabled     EventType = "security.mfa.disabled"
	EventSystemStartup           EventType = "system.startup"
	EventSystemShutdown          EventType = "system.shutdown"
	EventSystemMaintenance       EventType = "system.maintenance"
	EventStorageObjectCreated    EventType = "storage.object.created"
	EventStorageObjectDeleted    EventType = "storage.object.deleted"
)

// EventSpec describes one catalog entry.
type EventSpec struct {
	// Type is the event type and subject.
	Type EventType
	// Description says what happened, in one sentence.
	Description string
	// Data is a zero value of the event's data struct (its JSON Schema is generated from it).
	Data any
	// Version is the data schema version; fields are only ever added within a version.
	Version int
}

var events = []EventSpec{
	{EventUserCreated, "A user account was created (sign-up, import or by an administrator).", UserCreated{}, 1},
	{EventUserUpdated, "A user's profile fields changed.", UserUpdated{}, 1},
	{EventUserDeleted, "A user account and its sessions and credentials were deleted.", UserDeleted{}, 1},
	{EventUserSuspended, "A user account was suspended and may not sign in.", UserSuspended{}, 1},
	{EventUserActivated, "A suspended user account was activated again.", UserActivated{}, 1},
	{EventLoginSucceeded, "A user signed in and a session was created.", LoginSucceeded{}, 1},
	{EventLoginFailed, "A sign-in attempt failed; the password is never included.", LoginFailed{}, 1},
	{EventLogout, "A user signed out of a session.", Logout{}, 1},
	{EventTokenRefreshed, "A session's lifetime was extended by a sliding refresh.", TokenRefreshed{}, 1},
	{EventPasswordChanged, "A user's password was changed or reset.", PasswordChanged{}, 1},
	{EventSessionCreated, "A session was created.", SessionCreated{}, 1},
	{EventSessionExpired, "A session was found expired and removed.", SessionExpired{}, 1},
	{EventSessionRevoked, "A session was revoked before it expired.", SessionRevoked{}, 1},
	{EventOrgCreated, "An organization was created.", OrgCreated{}, 1},
	{EventOrgUpdated, "An organization's fields changed.", OrgUpdated{}, 1},
	{EventOrgDeleted, "An organization was deleted.", OrgDeleted{}, 1},
	{EventOrgMemberAdded, "A user became a member of an organization.", OrgMemberAdded{}, 1},
	{EventOrgMemberRemoved, "A member left or was removed from an organization.", OrgMemberRemoved{}, 1},
	{EventOrgRoleChanged, "A member's role in an organization changed.", OrgRoleChanged{}, 1},
	{EventSecurityThreatDetected, "A plugin detected a likely attack (credential stuffing, brute force, ...).", SecurityThreatDetected{}, 1},
	{EventSecurityBreachSuspected, "An account is suspected to be compromised.", SecurityBreachSuspected{}, 1},
	{EventSecurityMFAEnabled, "A user enabled a second factor.", SecurityMFAEnabled{}, 1},
	{EventSecurityMFADisabled, "A user disabled a second factor.", SecurityMFADisabled{}, 1},
	{EventSystemStartup, "A service instance started.", SystemStartup{}, 1},
	{EventSystemShutdown, "A service instance is shutting down.", SystemShutdown{}, 1},
	{EventSystemMaintenance, "An operator announced maintenance.", SystemMaintenance{}, 1},
	{EventStorageObjectCreated, "A blob was stored.", StorageObjectCreated{}, 1},
	{EventStorageObjectDeleted, "A blob was deleted.", StorageObjectDeleted{}, 1},
}

var eventIndex = func() map[EventType]EventSpec {
	m := make(map[EventType]EventSpec, len(events))
	for _, e := range events {
		m[e.Type] = e
	}
	return m
}()

// Events returns the whole catalog in a stable order.
func Events() []EventSpec {
	out := make([]EventSpec, len(events))
	copy(out, events)
	return out
}

// LookupEvent returns the catalog entry of t.
func LookupEvent(t EventType) (EventSpec, bool) {
	s, ok := eventIndex[t]
	return s, ok
}

// Known reports whether t is in the catalog.
func (t EventType) Known() bool {
	_, ok := eventIndex[t]
	return ok
}

// Domain is the first token of the type ("user" for "user.created").
func (t EventType) Domain() string {
	d, _, _ := strings.Cut(string(t), ".")
	return d
}

// EventDomains lists the distinct first tokens of the catalog, sorted
// ("auth", "org", "security", "session", "storage", "system", "user").
func EventDomains() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range events {
		if d := e.Type.Domain(); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// SubjectMatches reports whether a NATS subject matches a pattern with the
// NATS wildcards "*" (one token) and ">" (one or more trailing tokens).
func SubjectMatches(pattern, subject string) bool {
	p := strings.Split(pattern, ".")
	s := strings.Split(subject, ".")
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) {
			return false
		}
		if tok != "*" && tok != s[i] {
			return false
		}
	}
	return len(p) == len(s)
}

// EventsMatching returns the catalog types a subject pattern matches.
func EventsMatching(pattern string) []EventType {
	var out []EventType
	for _, e := range events {
		if SubjectMatches(pattern, string(e.Type)) {
			out = append(out, e.Type)
		}
	}
	return out
}

// User is the public view of a user account as events and hooks carry it.
// It never includes credentials.
type User struct {
	// ID is the user id (32 characters, [A-Za-z0-9]).
	ID string `json:"id"`
	// Name is the display name; may be empty.
	Name string `json:"name"`
	// Email is the lower-cased email address.
	Email string `json:"email"`
	// EmailVerified tells whether the address was confirmed.
	EmailVerified bool `json:"emailVerified"`
	// Image is an avatar URL, if any.
	Image *string `json:"image"`
	// Role is "user" or "admin".
	Role string `json:"role,omitempty"`
	// CreatedAt is when the account was created.
	CreatedAt time.Time `json:"createdAt"`
	// UpdatedAt is when the account last changed.
	UpdatedAt time.Time `json:"updatedAt"`
}

// Session is the public view of a session. It never includes the token.
type Session struct {
	// ID is the session id (not a credential).
	ID string `json:"id"`
	// UserID is the owner of the session.
	UserID string `json:"userId"`
	// ExpiresAt is when the session stops being valid.
	ExpiresAt time.Time `json:"expiresAt"`
	// CreatedAt is when the session was created (sign-in time).
	CreatedAt time.Time `json:"createdAt"`
	// UpdatedAt is when the session was last refreshed.
	UpdatedAt time.Time `json:"updatedAt"`
	// IPAddress is the client address the session was created from.
	IPAddress string `json:"ipAddress,omitempty"`
	// UserAgent is the client's user agent at creation.
	UserAgent string `json:"userAgent,omitempty"`
	// ActiveOrganizationID is the organization the session works in, if any.
	ActiveOrganizationID *string `json:"activeOrganizationId,omitempty"`
}

// Organization is the public view of an organization.
type Organization struct {
	// ID is the organization id.
	ID string `json:"id"`
	// Name is the display name.
	Name string `json:"name"`
	// Slug is the unique URL-safe name.
	Slug string `json:"slug"`
	// Logo is a logo URL, if any.
	Logo *string `json:"logo,omitempty"`
	// Metadata is free-form JSON text, if any.
	Metadata *string `json:"metadata,omitempty"`
	// CreatedAt is when the organization was created.
	CreatedAt time.Time `json:"createdAt"`
}

// UserCreated is the data of user.created.
type UserCreated struct {
	// User is the new account.
	User User `json:"user"`
	// Method is how it was created: "email", "import" or "admin".
	Method string `json:"method"`
}

// UserUpdated is the data of user.updated.
type UserUpdated struct {
	// User is the account after the change.
	User User `json:"user"`
	// Changed lists the JSON names of the fields that changed.
	Changed []string `json:"changed"`
}

// UserDeleted is the data of user.deleted.
type UserDeleted struct {
	// UserID is the deleted account's id.
	UserID string `json:"userId"`
	// Email is the deleted account's address (for downstream clean-up).
	Email string `json:"email"`
}

// UserSuspended is the data of user.suspended.
type UserSuspended struct {
	// UserID is the suspended account.
	UserID string `json:"userId"`
	// Reason is a stable code or short text.
	Reason string `json:"reason"`
	// Until is when the suspension ends; nil means until activated.
	Until *time.Time `json:"until,omitempty"`
}

// UserActivated is the data of user.activated.
type UserActivated struct {
	// UserID is the re-activated account.
	UserID string `json:"userId"`
}

// LoginSucceeded is the data of auth.login.success.
type LoginSucceeded struct {
	// UserID is who signed in.
	UserID string `json:"userId"`
	// SessionID is the session created.
	SessionID string `json:"sessionId"`
	// Method is the credential used ("email").
	Method string `json:"method"`
	// IPAddress is the client address.
	IPAddress string `json:"ipAddress,omitempty"`
	// UserAgent is the client's user agent.
	UserAgent string `json:"userAgent,omitempty"`
}

// LoginFailed is the data of auth.login.failed. It never carries the password.
type LoginFailed struct {
	// Email is the address tried, lower-cased.
	Email string `json:"email"`
	// UserID is set when the address belongs to an account.
	UserID string `json:"userId,omitempty"`
	// Reason is a stable error code (INVALID_EMAIL_OR_PASSWORD, EMAIL_NOT_VERIFIED, ...).
	Reason Code `json:"reason"`
	// Method is the credential used ("email").
	Method string `json:"method"`
	// IPAddress is the client address.
	IPAddress string `json:"ipAddress,omitempty"`
	// UserAgent is the client's user agent.
	UserAgent string `json:"userAgent,omitempty"`
}

// Logout is the data of auth.logout.
type Logout struct {
	// UserID is who signed out.
	UserID string `json:"userId"`
	// SessionID is the session ended.
	SessionID string `json:"sessionId"`
}

// TokenRefreshed is the data of auth.token.refresh.
type TokenRefreshed struct {
	// UserID owns the session.
	UserID string `json:"userId"`
	// SessionID is the refreshed session.
	SessionID string `json:"sessionId"`
	// ExpiresAt is the new expiry.
	ExpiresAt time.Time `json:"expiresAt"`
}

// PasswordChanged is the data of auth.password.changed.
type PasswordChanged struct {
	// UserID is whose password changed.
	UserID string `json:"userId"`
	// Method is "change" (knew the old one) or "reset" (emailed token).
	Method string `json:"method"`
	// SessionsRevoked tells whether the user's other sessions were revoked.
	SessionsRevoked bool `json:"sessionsRevoked"`
}

// SessionCreated is the data of session.created.
type SessionCreated struct {
	// Session is the new session (without its token).
	Session Session `json:"session"`
}

// SessionExpired is the data of session.expired.
type SessionExpired struct {
	// SessionID is the expired session.
	SessionID string `json:"sessionId"`
	// UserID owned it.
	UserID string `json:"userId"`
	// ExpiredAt is when it stopped being valid.
	ExpiredAt time.Time `json:"expiredAt"`
}

// Reasons a session is revoked (SessionRevoked.Reason).
const (
	RevokeSignOut        = "sign-out"
	RevokeByUser         = "revoke"
	RevokeAll            = "revoke-all"
	RevokeOthers         = "revoke-others"
	RevokePasswordChange = "password-change"
	RevokePasswordReset  = "password-reset"
	RevokeUserDeleted    = "user-deleted"
	RevokeByPlugin       = "plugin"
	RevokeByAdmin        = "admin"
)

// SessionRevoked is the data of session.revoked.
type SessionRevoked struct {
	// SessionID is the revoked session.
	SessionID string `json:"sessionId"`
	// UserID owned it.
	UserID string `json:"userId"`
	// Reason is one of the Revoke* constants.
	Reason string `json:"reason"`
}

// OrgCreated is the data of org.created.
type OrgCreated struct {
	// Organization is the new organization.
	Organization Organization `json:"organization"`
	// CreatorID is the user who created it (its first owner).
	CreatorID string `json:"creatorId"`
}

// OrgUpdated is the data of org.updated.
type OrgUpdated struct {
	// Organization is the organization after the change.
	Organization Organization `json:"organization"`
	// Changed lists the JSON names of the fields that changed.
	Changed []string `json:"changed"`
}

// OrgDeleted is the data of org.deleted.
type OrgDeleted struct {
	// OrganizationID is the deleted organization.
	OrganizationID string `json:"organizationId"`
	// Slug was its slug.
	Slug string `json:"slug"`
}

// OrgMemberAdded is the data of org.member.added.
type OrgMemberAdded struct {
	// OrganizationID is the organization joined.
	OrganizationID string `json:"organizationId"`
	// MemberID is the membership id.
	MemberID string `json:"memberId"`
	// UserID is the new member.
	UserID string `json:"userId"`
	// Role is the member's role (comma-joined when several).
	Role string `json:"role"`
}

// OrgMemberRemoved is the data of org.member.removed.
type OrgMemberRemoved struct {
	// OrganizationID is the organization left.
	OrganizationID string `json:"organizationId"`
	// MemberID is the membership id.
	MemberID string `json:"memberId"`
	// UserID is the former member.
	UserID string `json:"userId"`
}

// OrgRoleChanged is the data of org.role.changed.
type OrgRoleChanged struct {
	// OrganizationID is the organization.
	OrganizationID string `json:"organizationId"`
	// MemberID is the membership id.
	MemberID string `json:"memberId"`
	// UserID is the member.
	UserID string `json:"userId"`
	// PreviousRole is the role before the change.
	PreviousRole string `json:"previousRole"`
	// Role is the role after the change.
	Role string `json:"role"`
}

// SecurityThreatDetected is the data of security.threat.detected.
type SecurityThreatDetected struct {
	// Kind is a stable name such as "brute-force" or "credential-stuffing".
	Kind string `json:"kind"`
	// UserID is the targeted account, if known.
	UserID string `json:"userId,omitempty"`
	// IPAddress is the source address, if known.
	IPAddress string `json:"ipAddress,omitempty"`
	// Detail is human-readable context.
	Detail string `json:"detail,omitempty"`
}

// SecurityBreachSuspected is the data of security.breach.suspected.
type SecurityBreachSuspected struct {
	// UserID is the account suspected to be compromised.
	UserID string `json:"userId"`
	// Reason is human-readable context.
	Reason string `json:"reason"`
}

// SecurityMFAEnabled is the data of security.mfa.enabled.
type SecurityMFAEnabled struct {
	// UserID is the account.
	UserID string `json:"userId"`
	// Method is the factor ("totp", "otp", ...).
	Method string `json:"method"`
}

// SecurityMFADisabled is the data of security.mfa.disabled.
type SecurityMFADisabled struct {
	// UserID is the account.
	UserID string `json:"userId"`
	// Method is the factor removed.
	Method string `json:"method"`
}

// SystemStartup is the data of system.startup.
type SystemStartup struct {
	// Service is the service name ("core", "audit", ...).
	Service string `json:"service"`
	// Version is the service version.
	Version string `json:"version"`
	// Instance identifies the process (host name and pid).
	Instance string `json:"instance"`
}

// SystemShutdown is the data of system.shutdown.
type SystemShutdown struct {
	// Service is the service name.
	Service string `json:"service"`
	// Version is the service version.
	Version string `json:"version"`
	// Instance identifies the process.
	Instance string `json:"instance"`
	// Reason says why ("signal", "error", ...).
	Reason string `json:"reason,omitempty"`
}

// SystemMaintenance is the data of system.maintenance.
type SystemMaintenance struct {
	// Message is shown to operators.
	Message string `json:"message"`
	// StartsAt is when maintenance begins.
	StartsAt time.Time `json:"startsAt"`
	// EndsAt is when it is expected to end, if known.
	EndsAt *time.Time `json:"endsAt,omitempty"`
}

// StorageObjectCreated is the data of storage.object.created.
type StorageObjectCreated struct {
	// ObjectID is the stored object's id.
	ObjectID string `json:"objectId"`
	// Key is the object's key (path) within its owner's space.
	Key string `json:"key"`
	// OwnerID is the owning user or organization.
	OwnerID string `json:"ownerId"`
	// Size is the stored size in bytes.
	Size int64 `json:"size"`
	// ContentType is the object's media type.
	ContentType string `json:"contentType,omitempty"`
}

// StorageObjectDeleted is the data of storage.object.deleted.
type StorageObjectDeleted struct {
	// ObjectID is the deleted object's id.
	ObjectID string `json:"objectId"`
	// Key was the object's key.
	Key string `json:"key"`
	// OwnerID was the owner.
	OwnerID string `json:"ownerId"`
}
