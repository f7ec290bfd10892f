// Package coresvc serves the core services plugins call on
// core.<caller>.<service>.<method>: users, sessions, email, crypto and the
// hook plan. The caller is the subject's id token (the broker only lets a
// plugin's NATS user publish on its own id); each call is checked against
// the permissions granted to that plugin.
package coresvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/registry"
)

// CoreServices is what the core's auth flows provide to plugins. Errors
// that are *contracts.Error reach the plugin as they are; any other error
// becomes INTERNAL_SERVER_ERROR. actor is the calling plugin's id, for
// audit and events.
type CoreServices interface {
	// GetUser returns a user by id (USER_NOT_FOUND when there is none).
	GetUser(ctx context.Context, id string) (*contracts.User, error)
	// ListUsers returns one page of users in creation order and the total count.
	ListUsers(ctx context.Context, limit, offset int) ([]contracts.User, int, error)
	// UpdateUser changes a user's profile (running the update hooks).
	UpdateUser(ctx context.Context, actor, id string, changes contracts.UserChanges) (*contracts.User, error)
	// GetSession returns a session by id.
	GetSession(ctx context.Context, id string) (*contracts.Session, error)
	// RevokeSession deletes a session.
	RevokeSession(ctx context.Context, actor, id string) error
	// SetSessionField sets a plugin-owned session field (null clears it).
	SetSessionField(ctx context.Context, actor, id, field string, value json.RawMessage) (*contracts.Session, error)
	// SendEmail sends a message through the core's mailer (running the email hooks).
	SendEmail(ctx context.Context, actor string, email contracts.Email) error
}

// Callers tells who may call: the registry's view and hook plan.
type Callers interface {
	// View is the current snapshot of the plugins.
	View() *registry.View
	// Plan is the current hook plan.
	Plan() *contracts.HookPlan
}

// Defaults of Config.
const (
	// DefaultMaxConcurrent bounds the calls handled at once.
	DefaultMaxConcurrent = 64
	// DefaultTimeout bounds a call whose request carries no deadline.
	DefaultTimeout = 10 * time.Second
	// MaxRequestBytes caps a request body.
	MaxRequestBytes = 512 << 10
)

// Config configures a Service.
type Config struct {
	// Conn is the core's NATS connection (required).
	Conn *nats.Conn
	// Prefix is the installation's subject prefix (default none).
	Prefix string
	// Services are the core's flows (required for the user, session and email methods).
	Services CoreServices
	// Callers is the registry (required).
	Callers Callers
	// Crypto serves crypto.encrypt and crypto.decrypt (nil: they answer SERVICE_UNAVAILABLE).
	Crypto *Crypto
	// Logger receives failures (default slog.Default()).
	Logger *slog.Logger
	// MaxConcurrent bounds the calls handled at once (default 64).
	MaxConcurrent int
	// Timeout bounds a call without a deadline header (default 10s).
	Timeout time.Duration
}

// QueueGroup is the queue group of the core services subscription, shared by core replicas.
const QueueGroup = "core"

// Service serves the core services.
type Service struct {
	cfg  Config
	log  *slog.Logger
	sem  chan struct{}
	wg   sync.WaitGroup
	sub  *nats.Subscription
	base context.Context
	stop context.CancelFunc
}

// New checks cfg and returns a Service; Start subscribes.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Conn == nil {
		errs = append(errs, errors.New("coresvc: Conn is required"))
	}
	if cfg.Callers == nil {
		errs = append(errs, errors.New("coresvc: Callers is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	base, stop := context.WithCancel(context.Background())
	return &Service{cfg: cfg, log: cfg.Logger.With("component", "core-services"), sem: make(chan struct{}, cfg.MaxConcurrent),
		base: base, stop: stop}, nil
}

// Start subscribes to core.*.> in queue group "core".
func (s *Service) Start() error {
	sub, err := s.cfg.Conn.QueueSubscribe(bus.CoreSubjects(s.cfg.Prefix), QueueGroup, s.dispatch)
	if err != nil {
		return fmt.Errorf("core services: subscribe: %w", err)
	}
	s.sub = sub
	return nil
}

// Stop unsubscribes and waits for calls in progress until ctx ends, then
// cancels them.
func (s *Service) Stop(ctx context.Context) error {
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.stop()
		return nil
	case <-ctx.Done():
		s.stop()
		<-done
		return fmt.Errorf("core services: stop: %w", ctx.Err())
	}
}

// dispatch runs in the subscription's goroutine: it waits for a slot, so a
// burst queues in the subscription instead of spawning without bound.
func (s *Service) dispatch(msg *nats.Msg) {
	s.sem <- struct{}{}
	s.wg.Add(1)
	go func() {
		defer func() { <-s.sem; s.wg.Done() }()
		s.handle(msg)
	}()
}

func (s *Service) handle(msg *nats.Msg) {
	if msg.Reply == "" {
		return
	}
	ctx, cancel := bus.ContextFromHeader(s.base, msg.Header)
	defer cancel()
	if _, ok := ctx.Deadline(); !ok {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, s.cfg.Timeout)
		defer c2()
	}
	caller, method, _ := bus.CoreCaller(s.cfg.Prefix, msg.Subject)
	reply, err := s.call(ctx, caller, contracts.CoreService(method), msg.Data)
	if err != nil {
		s.respondError(msg, caller, method, err)
		return
	}
	b, err := json.Marshal(reply)
	if err != nil {
		s.respondError(msg, caller, method, fmt.Errorf("encode reply: %w", err))
		return
	}
	if err := msg.Respond(b); err != nil {
		s.log.Warn("core service reply failed", "caller", caller, "method", method, "err", err)
	}
}

func (s *Service) respondError(msg *nats.Msg, caller, method string, err error) {
	ce := contracts.AsError(err)
	if ce.Status >= 500 {
		s.log.Error("core service failed", "caller", caller, "method", method, "err", err)
	}
	body, _ := json.Marshal(ce)
	reply := nats.NewMsg(msg.Reply)
	reply.Data = body
	reply.Header.Set(micro.ErrorHeader, ce.Message)
	reply.Header.Set(micro.ErrorCodeHeader, strconv.Itoa(ce.Status))
	if err := msg.RespondMsg(reply); err != nil {
		s.log.Warn("core service error reply failed", "caller", caller, "method", method, "err", err)
	}
}

// call checks the caller and runs the method.
func (s *Service) call(ctx context.Context, caller string, m contracts.CoreService, data []byte) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("core service panicked", "caller", caller, "method", m, "panic", r, "stack", string(debug.Stack()))
			err = contracts.CodeInternalServerError.Err()
		}
	}()
	if !m.Known() {
		return nil, contracts.CodeUnknownMethod.Errorf("core service %q does not exist", m)
	}
	p := s.cfg.Callers.View().Get(caller)
	if p == nil || !p.Accepted() {
		return nil, contracts.CodePermissionDenied.Errorf("plugin %q is not registered with the core", caller)
	}
	if !Allowed(m, p.Granted) {
		return nil, contracts.CodePermissionDenied.Errorf("plugin %q may not call %s: it needs %s", caller, m, Requirement(m))
	}
	if len(data) > MaxRequestBytes {
		return nil, contracts.CodePayloadTooLarge.Errorf("request body is %d bytes, limit %d", len(data), MaxRequestBytes)
	}
	if m == contracts.CoreHooksPlan {
		return s.cfg.Callers.Plan(), nil
	}
	if m == contracts.CoreCryptoEncrypt || m == contracts.CoreCryptoDecrypt {
		return s.crypto(caller, m, data)
	}
	if s.cfg.Services == nil {
		return nil, contracts.CodeServiceUnavailable.Errorf("core service %s is not available", m)
	}
	svc := s.cfg.Services
	switch m {
	case contracts.CoreUsersGet:
		var req contracts.GetUserRequest
		if err := decode(data, &req); err != nil {
			return nil, err
		}
		if req.ID == "" {
			return nil, missing("id")
		}
		return svc.GetUser(ctx, req.ID)
	case contracts.CoreUsersList:
		var req contracts.ListUsersRequest
		if err := decode(data, &req); err != nil {
			return nil, err
		}
		if req.Limit < 0 || req.Offset < 0 {
			return nil, contracts.CodeValidationError.Errorf("limit and offset must not be negative")
		}
		users, total, err := svc.ListUsers(ctx, req.Limit, req.Offset)
		if err != nil {
			return nil, err
		}
		if users == nil {
			users = []contracts.User{}
		}
		return contracts.ListUsersReply{Users: users, Total: total}, nil
	case contracts.CoreUsersUpdate:
		var req contracts.UpdateUserRequest
		if err := decode(data, &req); err != nil {
			return nil, err
		}
		if req.ID == "" {
			return nil, missing("id")
		}
		return svc.UpdateUser(ctx, caller, req.ID, req.Changes)
	case contracts.CoreSessionsGet:
		var req contracts.GetSessionRequest
		if err := decode(data, &req); err != nil {
			return nil, err
		}
		if req.ID == "" {
			return nil, missing("id")
		}
		return svc.GetSession(ctx, req.ID)
	case contracts.CoreSessionsRevoke:
		var req contracts.RevokeSessionRequest
		if err := decode(data, &req); err != nil {
			return nil, err
		}
		if req.ID == "" {
			return nil, missing("id")
		}
		return contracts.EmptyReply{}, svc.RevokeSession(ctx, caller, req.ID)
	case contracts.CoreSessionsSetField:
		var req contracts.SetSessionFieldRequest
		if err := decode(data, &req); err != nil {
			return nil, err
		}
		if req.ID == "" || req.Field == "" {
			return nil, missing("id and field")
		}
		if len(req.Value) == 0 {
			req.Value = json.RawMessage("null")
		}
		return svc.SetSessionField(ctx, caller, req.ID, req.Field, req.Value)
	case contracts.CoreEmailSend:
		var req contracts.Email
		if err := decode(data, &req); err != nil {
			return nil, err
		}
		if req.To == "" || req.Subject == "" || (req.Text == "" && req.HTML == "") {
			return nil, missing("to, subject and text or html")
		}
		req.Kind = contracts.EmailPluginMessage
		return contracts.EmptyReply{}, svc.SendEmail(ctx, caller, req)
	}
	return nil, contracts.CodeUnknownMethod.Errorf("core service %q does not exist", m)
}

func (s *Service) crypto(caller string, m contracts.CoreService, data []byte) (any, error) {
	if s.cfg.Crypto == nil {
		return nil, contracts.CodeServiceUnavailable.Errorf("the core has no secret configured for crypto")
	}
	if m == contracts.CoreCryptoEncrypt {
		var req contracts.EncryptRequest
		if err := decode(data, &req); err != nil {
			return nil, err
		}
		ct, err := s.cfg.Crypto.Encrypt(caller, req.Plaintext)
		if err != nil {
			return nil, err
		}
		return contracts.EncryptReply{Ciphertext: ct}, nil
	}
	var req contracts.DecryptRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	pt, err := s.cfg.Crypto.Decrypt(caller, req.Ciphertext)
	if errors.Is(err, ErrCiphertext) {
		return nil, contracts.CodeInvalidToken.Errorf("%v", err)
	}
	if err != nil {
		return nil, err
	}
	return contracts.DecryptReply{Plaintext: pt}, nil
}

func decode(data []byte, v any) error {
	if len(data) == 0 {
		data = []byte("{}")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &contracts.Error{Status: http.StatusBadRequest, Code: contracts.CodeBadRequest, Message: "invalid JSON in request body: " + err.Error()}
	}
	return nil
}

func missing(what string) error {
	return contracts.CodeMissingField.Errorf("%s is required", what)
}
