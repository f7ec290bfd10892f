package auth

import (
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
)

// Authenticated is a request's resolved session: its user, the session row
// and the raw token the request presented.
type Authenticated struct {
	// User owns the session.
	User store.User
	// Session is the session row.
	Session store.Session
	// Token is the raw session token.
	Token string
}

// NewSession is a session a flow created; the caller sets its cookie.
type NewSession struct {
	// Session is the stored row.
	Session store.Session
	// Token is the raw session token (only ever shown to its owner).
	Token string
	// DontRemember is rememberMe:false: a browser-session cookie.
	DontRemember bool
}

// PublicUser is the view of a user that hooks, events and plugins get.
func PublicUser(u store.User) contracts.User { return u.Public() }

// PublicSession is the view of a session that hooks, events and plugins
// get: never its token.
func PublicSession(s store.Session) contracts.Session { return s.Public() }

func publicSessionPtr(s store.Session) *contracts.Session {
	p := PublicSession(s)
	return &p
}
