// Package store is everything the core persists: users, accounts
// (credentials), sessions, verification tokens and the event outbox.
//
// One interface, Store, has two implementations: store/postgres (production,
// schema "core") and store/sqlite (embedded, `authbus dev`). Both pass the one
// conformance suite in store/storetest; store/storeopen picks one from a URL.
//
// Tables and columns follow better-auth's schema ("user", session, account,
// verification with camelCase columns) plus the admin plugin's user.role,
// user.banned, user.banReason and user.banExpires, a JSON session.data column
// for per-session plugin fields, and the outbox. Two deliberate differences:
// session.token holds the SHA-256 (hex) of the session token, never the token
// (see HashToken), and emails are stored lower-cased.
//
// Every change and the events that announce it are written in one
// transaction (Store.InTx, Tx.AppendOutbox): they commit together or not at
// all. The outbox relay reads committed events with FetchOutbox.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/token"
)

// ErrNotFound is wrapped by every error about a row that does not exist
// (including a write that refers to a user that does not exist).
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped by every error about a unique value already taken
// (a duplicate email, session token hash, account or event id).
var ErrConflict = errors.New("already exists")

// CredentialProvider is the providerId of the email+password account.
const CredentialProvider = "credential"

// Roles of the admin plugin's user.role column.
const (
	// RoleUser is every user's role unless made an admin.
	RoleUser = "user"
	// RoleAdmin may use /api/admin.
	RoleAdmin = "admin"
)

// User is a row of "user". Email is lower-case.
type User struct {
	// ID is a 32-character identifier (NewID when created empty).
	ID string
	// Name may be empty.
	Name string
	// Email is unique and stored lower-cased.
	Email string
	// EmailVerified is set once the user proved they own Email.
	EmailVerified bool
	// Image is a URL, or nil.
	Image *string
	// Role is RoleUser (the default) or RoleAdmin.
	Role string
	// Banned suspends the user.
	Banned bool
	// BanReason says why, when banned.
	BanReason *string
	// BanExpires ends the ban, nil for a ban without end.
	BanExpires *time.Time
	// CreatedAt and UpdatedAt are UTC with millisecond precision.
	CreatedAt, UpdatedAt time.Time
}

// Account is a row of account: a way to sign in as a user. The email+password
// account has ProviderID CredentialProvider, AccountID = UserID and the
// password hash in Password. Empty strings are stored as NULL.
type Account struct {
	// ID is a 32-character identifier (NewID when created empty).
	ID string
	// AccountID is the user's id at the provider; (ProviderID, AccountID) is unique.
	AccountID string
	// ProviderID is CredentialProvider or an OAuth provider id.
	ProviderID string
	// UserID owns the account.
	UserID string
	// AccessToken, RefreshToken and IDToken are OAuth tokens.
	AccessToken, RefreshToken, IDToken string
	// AccessTokenExpiresAt and RefreshTokenExpiresAt are nil when unknown.
	AccessTokenExpiresAt, RefreshTokenExpiresAt *time.Time
	// Scope is the OAuth scope.
	Scope string
	// Password is the password hash ("salt:key", better-auth's scrypt format).
	Password string
	// CreatedAt and UpdatedAt are UTC with millisecond precision.
	CreatedAt, UpdatedAt time.Time
}

// Session is a row of session.
type Session struct {
	// ID is a 32-character identifier (NewID when created empty).
	ID string
	// TokenHash is HashToken(session token): the token itself is never stored.
	TokenHash string
	// UserID owns the session.
	UserID string
	// ExpiresAt ends the session; it is expired when ExpiresAt <= now.
	ExpiresAt time.Time
	// IPAddress and UserAgent of the client that created it ("" when unknown).
	IPAddress, UserAgent string
	// ActiveOrganizationID is the organization plugin's per-session field.
	ActiveOrganizationID *string
	// Data holds other plugins' per-session fields, by name (nil when none).
	Data map[string]json.RawMessage
	// CreatedAt and UpdatedAt are UTC with millisecond precision.
	CreatedAt, UpdatedAt time.Time
}

// Verification is a row of verification: a single-use token, e.g.
// identifier "reset-password:<token>" with the user id as value.
type Verification struct {
	// ID is a 32-character identifier (NewID when created empty).
	ID string
	// Identifier is what the token is looked up by.
	Identifier string
	// Value is what the token stands for.
	Value string
	// ExpiresAt ends the token; it is expired when ExpiresAt <= now.
	ExpiresAt time.Time
	// CreatedAt and UpdatedAt are UTC with millisecond precision.
	CreatedAt, UpdatedAt time.Time
}

// OutboxRecord is an event in the outbox.
type OutboxRecord struct {
	// Seq identifies the row (increasing in append order).
	Seq int64
	// Event is the envelope as appended.
	Event contracts.Envelope
	// CreatedAt is when it was appended.
	CreatedAt time.Time
	// PublishedAt is when the relay marked it published, nil before.
	PublishedAt *time.Time
}

// OutboxBacklog describes the unpublished events.
type OutboxBacklog struct {
	// Count of unpublished events.
	Count int
	// Oldest is the CreatedAt of the oldest unpublished event, zero when Count is 0.
	Oldest time.Time
}

// ListUsersOptions selects a page of users, ordered by creation time.
type ListUsersOptions struct {
	// Limit is the page size: default 100, at most 1000.
	Limit int
	// Offset skips that many users.
	Offset int
}

// UserPage is a page of users.
type UserPage struct {
	// Users on this page.
	Users []User
	// Total number of users.
	Total int
}

// Optional is a field of an update: Set says whether to change it.
type Optional[T any] struct {
	// Set is true when the field is to be changed to Value.
	Set bool
	// Value is the new value.
	Value T
}

// Some returns an Optional that sets v.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: v} }

// UserUpdate lists the user fields to change.
type UserUpdate struct {
	// Name, Email (lower-cased by the store), EmailVerified, Image and Role of better-auth and its admin plugin.
	Name          Optional[string]
	Email         Optional[string]
	EmailVerified Optional[bool]
	Image         Optional[*string]
	Role          Optional[string]
	// Banned, BanReason and BanExpires suspend or reactivate the user.
	Banned     Optional[bool]
	BanReason  Optional[*string]
	BanExpires Optional[*time.Time]
	// UpdatedAt is the new updatedAt (now when zero).
	UpdatedAt time.Time
}

// SessionUpdate lists the per-session plugin fields to change.
type SessionUpdate struct {
	// ActiveOrganizationID sets or (nil) clears the active organization.
	ActiveOrganizationID Optional[*string]
	// Data is merged into Session.Data key by key; a key whose value is JSON null is removed.
	Data map[string]json.RawMessage
	// UpdatedAt is the new updatedAt (now when zero).
	UpdatedAt time.Time
}

// Reader holds the queries. On a Store each runs on its own; on a Tx it
// sees the transaction's writes.
type Reader interface {
	// UserByID returns the user, or ErrNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	// UserByEmail returns the user with that email (compared lower-cased), or ErrNotFound.
	UserByEmail(ctx context.Context, email string) (User, error)
	// UserWithCredential returns, in one query, the user with that email and its
	// credential account, nil when the user has none; ErrNotFound without such a user.
	UserWithCredential(ctx context.Context, email string) (User, *Account, error)
	// ListUsers returns a page of users ordered by creation time, and their total.
	ListUsers(ctx context.Context, opts ListUsersOptions) (UserPage, error)
	// CredentialAccount returns the user's credential account, or ErrNotFound.
	CredentialAccount(ctx context.Context, userID string) (Account, error)
	// AccountsOfUser returns the user's accounts, oldest first.
	AccountsOfUser(ctx context.Context, userID string) ([]Account, error)
	// SessionByTokenHash returns, in one query, the session with that token hash
	// and its user — expired or not — or ErrNotFound.
	SessionByTokenHash(ctx context.Context, tokenHash string) (Session, User, error)
	// SessionByID returns a session (expired or not) and its user by session id.
	SessionByID(ctx context.Context, id string) (Session, User, error)
	// SessionsOfUser returns the user's sessions with ExpiresAt > now, oldest first.
	SessionsOfUser(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// VerificationByIdentifier returns the newest verification with that
	// identifier — expired or not — or ErrNotFound.
	VerificationByIdentifier(ctx context.Context, identifier string) (Verification, error)
}

// Tx is a transaction: the reads see its writes, and the writes (including
// the outbox events) commit together or not at all. Times left zero are set
// to now; every time is stored in UTC with millisecond precision. A Tx is not
// safe for concurrent use and is valid only inside the InTx callback.
//
// After a write fails with an error other than ErrNotFound, the transaction
// can only roll back (as on Postgres): InTx returns an error even when the
// callback swallowed the failure and returned nil.
type Tx interface {
	Reader

	// CreateUser inserts u (email lower-cased, Role defaulting to RoleUser)
	// and returns it as stored; ErrConflict when the email is taken.
	CreateUser(ctx context.Context, u User) (User, error)
	// UpdateUser changes the fields set in up and returns the user as stored;
	// ErrNotFound, or ErrConflict when a new email is taken.
	UpdateUser(ctx context.Context, id string, up UserUpdate) (User, error)
	// DeleteUser deletes the user with its sessions and accounts, and returns it; ErrNotFound.
	DeleteUser(ctx context.Context, id string) (User, error)

	// CreateAccount inserts a and returns it as stored; ErrNotFound when the user
	// does not exist, ErrConflict when (ProviderID, AccountID) is taken.
	CreateAccount(ctx context.Context, a Account) (Account, error)
	// SetPassword replaces the password hash of the user's credential account; ErrNotFound without one.
	SetPassword(ctx context.Context, userID, hash string, at time.Time) error

	// CreateSession inserts s (ExpiresAt required) and returns it as stored;
	// ErrNotFound when the user does not exist, ErrConflict when the token hash is taken.
	CreateSession(ctx context.Context, s Session) (Session, error)
	// ExtendSession sets the session's expiresAt and updatedAt; ErrNotFound.
	ExtendSession(ctx context.Context, id string, expiresAt, at time.Time) (Session, error)
	// UpdateSession changes the session's plugin fields; ErrNotFound.
	UpdateSession(ctx context.Context, id string, up SessionUpdate) (Session, error)
	// DeleteSession deletes the user's session id and returns it; ErrNotFound
	// when there is none (or it belongs to another user).
	DeleteSession(ctx context.Context, userID, id string) (Session, error)
	// DeleteUserSessions deletes the user's sessions except exceptID ("" for
	// none) and returns them.
	DeleteUserSessions(ctx context.Context, userID, exceptID string) ([]Session, error)
	// DeleteExpiredSessions deletes up to limit sessions with ExpiresAt <= now
	// and returns them.
	DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) ([]Session, error)

	// CreateVerification inserts v (ExpiresAt required) and returns it as stored.
	CreateVerification(ctx context.Context, v Verification) (Verification, error)
	// ConsumeVerification deletes the verifications with that identifier and
	// returns the newest — expired or not — so that a token is used once;
	// ErrNotFound when there is none (e.g. another request consumed it).
	ConsumeVerification(ctx context.Context, identifier string) (Verification, error)
	// DeleteVerifications deletes the verifications with that identifier and
	// returns how many there were.
	DeleteVerifications(ctx context.Context, identifier string) (int, error)
	// DeleteExpiredVerifications deletes up to limit verifications with
	// ExpiresAt <= now and returns how many.
	DeleteExpiredVerifications(ctx context.Context, now time.Time, limit int) (int, error)

	// AppendOutbox adds events to the outbox, in order; ErrConflict when an event id is taken.
	AppendOutbox(ctx context.Context, events ...contracts.Envelope) error
}

// Outbox is what the relay uses to publish events in commit order.
type Outbox interface {
	// FetchOutbox returns up to limit unpublished events in publishing order.
	// On Postgres that is (transaction id, seq) order, and only events of
	// transactions older than every transaction still running: a transaction
	// that began earlier but commits later is waited for, never skipped. On
	// SQLite (one writer at a time) it is seq order.
	FetchOutbox(ctx context.Context, limit int) ([]OutboxRecord, error)
	// MarkPublished marks the events with these seqs published at at.
	MarkPublished(ctx context.Context, seqs []int64, at time.Time) error
	// PruneOutbox deletes up to limit events published before before and returns how many.
	PruneOutbox(ctx context.Context, before time.Time, limit int) (int, error)
	// OutboxBacklog counts the unpublished events.
	OutboxBacklog(ctx context.Context) (OutboxBacklog, error)
	// TryRelayLock tries once to become the only relay among the replicas
	// sharing the database; ok is false when another holds the lock.
	TryRelayLock(ctx context.Context) (lock RelayLock, ok bool, err error)
}

// RelayLock is held by the one active relay.
type RelayLock interface {
	// Lost is closed when the lock is lost without Release (on Postgres: its
	// connection broke, so the server released it and another replica may hold it).
	Lost() <-chan struct{}
	// Release gives the lock up. It is safe to call more than once.
	Release() error
}

// Store is the core's persistence. It is safe for concurrent use.
type Store interface {
	Reader
	Outbox

	// InTx runs fn in a transaction and commits when fn returns nil; it
	// rolls back and returns fn's error otherwise (and re-panics when fn
	// panics). fn must use only tx, not the Store, and must not nest InTx:
	// on SQLite there is one writer connection. fn is not retried.
	InTx(ctx context.Context, fn func(tx Tx) error) error
	// Migrate applies the embedded migrations not yet applied, in order and
	// recorded; safe when several processes migrate at once.
	Migrate(ctx context.Context) error
	// Close releases held relay locks and closes the connections.
	Close() error
}

// HashToken is what the session table stores instead of a session token:
// its SHA-256, hex-encoded.
func HashToken(tok string) string { return token.Hash(tok) }

// NewID returns a random 32-character [A-Za-z0-9] id, like better-auth's.
func NewID() string { return token.ID() }

// Public is the view of a user that hooks, events and plugins get: no
// credentials, no ban details.
func (u User) Public() contracts.User {
	return contracts.User{
		ID:            u.ID,
		Name:          u.Name,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Image:         u.Image,
		Role:          u.Role,
		CreatedAt:     u.CreatedAt,
		UpdatedAt:     u.UpdatedAt,
	}
}

// Public is the view of a session that hooks, events and plugins get: never
// its token (nor its hash).
func (s Session) Public() contracts.Session {
	return contracts.Session{
		ID:                   s.ID,
		UserID:               s.UserID,
		ExpiresAt:            s.ExpiresAt,
		CreatedAt:            s.CreatedAt,
		UpdatedAt:            s.UpdatedAt,
		IPAddress:            s.IPAddress,
		UserAgent:            s.UserAgent,
		ActiveOrganizationID: s.ActiveOrganizationID,
	}
}
