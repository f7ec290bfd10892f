package contracts

import (
	"encoding/json"
	"strings"
)

// Core services are what a plugin may ask the core to do, each a NATS
// request on "core.<caller>.<service>.<method>" (the caller's id in the
// subject, vouched for by the broker). Each method below names its request
// and reply bodies. A failed call is answered with a reply whose body is an
// Error as JSON and whose headers follow the NATS micro convention:
// "Nats-Service-Error" holds Error.Message and "Nats-Service-Error-Code" holds
// Error.Status as decimal text. A caller whose granted permissions do not
// cover the method gets CodePermissionDenied (403).

// CoreService names one core service method as "<service>.<method>", e.g. "users.get".
type CoreService string

// Every core service method.
const (
	// CoreUsersGet: GetUserRequest → User (needs user:read).
	CoreUsersGet CoreService = "users.get"
	// CoreUsersList: ListUsersRequest → ListUsersReply (needs user:read).
	CoreUsersList CoreService = "users.list"
	// CoreUsersUpdate: UpdateUserRequest → User (needs user:write).
	CoreUsersUpdate CoreService = "users.update"
	// CoreSessionsGet: GetSessionRequest → Session (needs session:read).
	CoreSessionsGet CoreService = "sessions.get"
	// CoreSessionsRevoke: RevokeSessionRequest → EmptyReply (needs session:write).
	CoreSessionsRevoke CoreService = "sessions.revoke"
	// CoreSessionsSetField: SetSessionFieldRequest → Session (needs session:write).
	CoreSessionsSetField CoreService = "sessions.set-field"
	// CoreEmailSend: Email → EmptyReply (needs email:send). The core runs
	// beforeEmailSend/afterEmailSend around it like for its own mail.
	CoreEmailSend CoreService = "email.send"
	// CoreCryptoEncrypt: EncryptRequest → EncryptReply (needs crypto:use).
	CoreCryptoEncrypt CoreService = "crypto.encrypt"
	// CoreCryptoDecrypt: DecryptRequest → DecryptReply (needs crypto:use).
	CoreCryptoDecrypt CoreService = "crypto.decrypt"
	// CoreHooksPlan: HookPlanRequest → HookPlan (needs any hooks:call:<point>
	// permission, so Permission reports none). Plugins that expose hook
	// points fetch it at start and then follow the plan published on hooks.plan.
	CoreHooksPlan CoreService = "hooks.plan"
)

var coreServices = map[CoreService]Permission{
	CoreUsersGet:         PermUserRead,
	CoreUsersList:        PermUserRead,
	CoreUsersUpdate:      PermUserWrite,
	CoreSessionsGet:      PermSessionRead,
	CoreSessionsRevoke:   PermSessionWrite,
	CoreSessionsSetField: PermSessionWrite,
	CoreEmailSend:        PermEmailSend,
	CoreCryptoEncrypt:    PermCryptoUse,
	CoreCryptoDecrypt:    PermCryptoUse,
	CoreHooksPlan:        "",
}

// CoreServices lists every core service method in a stable order.
func CoreServices() []CoreService {
	return []CoreService{CoreUsersGet, CoreUsersList, CoreUsersUpdate, CoreSessionsGet, CoreSessionsRevoke,
		CoreSessionsSetField, CoreEmailSend, CoreCryptoEncrypt, CoreCryptoDecrypt, CoreHooksPlan}
}

// Known reports whether s is a core service method.
func (s CoreService) Known() bool {
	_, ok := coreServices[s]
	return ok
}

// Permission is the fixed permission a caller must be granted to call s;
// empty for hooks.plan (any hooks:call:<point> permission) and unknown methods.
func (s CoreService) Permission() Permission { return coreServices[s] }

// Split returns the service and method parts ("users", "get"), as
// bus.CoreSubject takes them.
func (s CoreService) Split() (service, method string) {
	service, method, _ = strings.Cut(string(s), ".")
	return service, method
}

// GetUserRequest is the body of users.get.
type GetUserRequest struct {
	// ID is the user id.
	ID string `json:"id"`
}

// ListUsersRequest is the body of users.list.
type ListUsersRequest struct {
	// Limit is the page size (the core caps it; 0 means its default).
	Limit int `json:"limit,omitempty"`
	// Offset is how many users to skip, in creation order.
	Offset int `json:"offset,omitempty"`
}

// ListUsersReply answers users.list.
type ListUsersReply struct {
	// Users is one page of users.
	Users []User `json:"users"`
	// Total is the number of users in all pages.
	Total int `json:"total"`
}

// UpdateUserRequest is the body of users.update. The core runs
// beforeUserUpdate/afterUserUpdate around it like for its own updates.
type UpdateUserRequest struct {
	// ID is the user id.
	ID string `json:"id"`
	// Changes are the profile fields to set.
	Changes UserChanges `json:"changes"`
}

// GetSessionRequest is the body of sessions.get.
type GetSessionRequest struct {
	// ID is the session id.
	ID string `json:"id"`
}

// RevokeSessionRequest is the body of sessions.revoke.
type RevokeSessionRequest struct {
	// ID is the session id.
	ID string `json:"id"`
}

// SessionFieldActiveOrganization is the session field holding the active
// organization id (Session.ActiveOrganizationID); a JSON string, or null to clear it.
const SessionFieldActiveOrganization = "activeOrganizationId"

// SetSessionFieldRequest is the body of sessions.set-field: it sets one
// plugin-owned field of a session, such as SessionFieldActiveOrganization.
type SetSessionFieldRequest struct {
	// ID is the session id.
	ID string `json:"id"`
	// Field is the field's JSON name.
	Field string `json:"field"`
	// Value is the new value as JSON; null clears the field.
	Value json.RawMessage `json:"value"`
}

// EncryptRequest is the body of crypto.encrypt.
type EncryptRequest struct {
	// Plaintext is the data to encrypt (base64 in JSON).
	Plaintext []byte `json:"plaintext"`
}

// EncryptReply answers crypto.encrypt.
type EncryptReply struct {
	// Ciphertext is an opaque, URL-safe string only crypto.decrypt can open.
	Ciphertext string `json:"ciphertext"`
}

// DecryptRequest is the body of crypto.decrypt.
type DecryptRequest struct {
	// Ciphertext is what crypto.encrypt returned.
	Ciphertext string `json:"ciphertext"`
}

// DecryptReply answers crypto.decrypt.
type DecryptReply struct {
	// Plaintext is the decrypted data (base64 in JSON).
	Plaintext []byte `json:"plaintext"`
}

// HookPlanRequest is the body of hooks.plan.
type HookPlanRequest struct{}

// EmptyReply answers methods that return nothing: {}.
type EmptyReply struct{}
