package postgres

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/internal/normalize"
)

// Column lists, in the order the scan functions read them.
const (
	userCols = `u."id", u."name", u."email", u."emailVerified", u."image", u."role", u."banned", u."banReason", u."banExpires", u."createdAt", u."updatedAt"`

	accountCols = `a."id", a."accountId", a."providerId", a."userId", COALESCE(a."accessToken", ''), COALESCE(a."refreshToken", ''),
		COALESCE(a."idToken", ''), a."accessTokenExpiresAt", a."refreshTokenExpiresAt", COALESCE(a."scope", ''),
		COALESCE(a."password", ''), a."createdAt", a."updatedAt"`

	sessionCols = `s."id", s."token", s."userId", s."expiresAt", COALESCE(s."ipAddress", ''), COALESCE(s."userAgent", ''),
		s."activeOrganizationId", s."data", s."createdAt", s."updatedAt"`

	// credentialCols is accountCols for a LEFT JOIN: NULL-safe where accountCols relies on NOT NULL.
	credentialCols = `a."id", COALESCE(a."accountId", ''), COALESCE(a."providerId", ''), COALESCE(a."userId", ''),
		COALESCE(a."accessToken", ''), COALESCE(a."refreshToken", ''), COALESCE(a."idToken", ''),
		a."accessTokenExpiresAt", a."refreshTokenExpiresAt", COALESCE(a."scope", ''), COALESCE(a."password", ''),
		a."createdAt", a."updatedAt"`

	verificationCols = `v."id", v."identifier", v."value", v."expiresAt", v."createdAt", v."updatedAt"`
)

func (u *userScan) dest() []any {
	return []any{&u.ID, &u.Name, &u.Email, &u.EmailVerified, &u.Image, &u.Role, &u.Banned, &u.BanReason, &u.BanExpires, &u.CreatedAt, &u.UpdatedAt}
}

type userScan struct{ store.User }

func (u *userScan) done() store.User {
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	u.BanExpires = utcPtr(u.BanExpires)
	return u.User
}

type accountScan struct{ store.Account }

func (a *accountScan) dest() []any {
	return []any{&a.ID, &a.AccountID, &a.ProviderID, &a.UserID, &a.AccessToken, &a.RefreshToken, &a.IDToken,
		&a.AccessTokenExpiresAt, &a.RefreshTokenExpiresAt, &a.Scope, &a.Password, &a.CreatedAt, &a.UpdatedAt}
}

func (a *accountScan) done() store.Account {
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	a.AccessTokenExpiresAt, a.RefreshTokenExpiresAt = utcPtr(a.AccessTokenExpiresAt), utcPtr(a.RefreshTokenExpiresAt)
	return a.Account
}

type sessionScan struct {
	store.Session
	data []byte
}

func (s *sessionScan) dest() []any {
	return []any{&s.ID, &s.TokenHash, &s.UserID, &s.ExpiresAt, &s.IPAddress, &s.UserAgent, &s.ActiveOrganizationID, &s.data, &s.CreatedAt, &s.UpdatedAt}
}

func (s *sessionScan) done() (store.Session, error) {
	s.ExpiresAt, s.CreatedAt, s.UpdatedAt = s.ExpiresAt.UTC(), s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	data, err := normalize.DecodeData(s.data)
	s.Data = data
	return s.Session, err
}

type verificationScan struct{ store.Verification }

func (v *verificationScan) dest() []any {
	return []any{&v.ID, &v.Identifier, &v.Value, &v.ExpiresAt, &v.CreatedAt, &v.UpdatedAt}
}

func (v *verificationScan) done() store.Verification {
	v.ExpiresAt, v.CreatedAt, v.UpdatedAt = v.ExpiresAt.UTC(), v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	return v.Verification
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// nullIfEmpty stores "" as NULL in nullable text columns.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (r reader) queryUser(ctx context.Context, op, sql string, args ...any) (store.User, error) {
	var u userScan
	if err := r.q.QueryRow(ctx, sql, args...).Scan(u.dest()...); err != nil {
		return store.User{}, r.wrap(op, err)
	}
	return u.done(), nil
}

func (r reader) querySession(ctx context.Context, op, sql string, args ...any) (store.Session, error) {
	var s sessionScan
	if err := r.q.QueryRow(ctx, sql, args...).Scan(s.dest()...); err != nil {
		return store.Session{}, r.wrap(op, err)
	}
	out, err := s.done()
	return out, r.wrap(op, err)
}

// querySessions returns the sessions a query yields, oldest first.
func (r reader) querySessions(ctx context.Context, op, sql string, args ...any) ([]store.Session, error) {
	rows, err := r.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, r.wrap(op, err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		var s sessionScan
		if err := rows.Scan(s.dest()...); err != nil {
			return nil, r.wrap(op, err)
		}
		sess, err := s.done()
		if err != nil {
			return nil, r.wrap(op, err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, r.wrap(op, err)
	}
	sortSessions(out)
	return out, nil
}

func sortSessions(ss []store.Session) {
	sort.SliceStable(ss, func(i, j int) bool {
		if !ss[i].CreatedAt.Equal(ss[j].CreatedAt) {
			return ss[i].CreatedAt.Before(ss[j].CreatedAt)
		}
		return ss[i].ID < ss[j].ID
	})
}

func (r reader) queryVerifications(ctx context.Context, op, sql string, args ...any) ([]store.Verification, error) {
	rows, err := r.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, r.wrap(op, err)
	}
	defer rows.Close()
	var out []store.Verification
	for rows.Next() {
		var v verificationScan
		if err := rows.Scan(v.dest()...); err != nil {
			return nil, r.wrap(op, err)
		}
		out = append(out, v.done())
	}
	return out, r.wrap(op, rows.Err())
}

// UserByID implements store.Reader.
func (r reader) UserByID(ctx context.Context, id string) (store.User, error) {
	return r.queryUser(ctx, "user by id", `SELECT `+userCols+` FROM core."user" u WHERE u."id" = $1`, id)
}

// UserByEmail implements store.Reader.
func (r reader) UserByEmail(ctx context.Context, email string) (store.User, error) {
	return r.queryUser(ctx, "user by email", `SELECT `+userCols+` FROM core."user" u WHERE u."email" = $1`, normalize.Email(email))
}

// UserWithCredential implements store.Reader.
func (r reader) UserWithCredential(ctx context.Context, email string) (store.User, *store.Account, error) {
	var u userScan
	var a accountScan
	// Without a credential account the LEFT JOIN yields NULLs: read the
	// NOT NULL columns through pointers.
	var accountID *string
	var created, updated *time.Time
	ad := a.dest()
	ad[0], ad[11], ad[12] = &accountID, &created, &updated
	err := r.q.QueryRow(ctx, `SELECT `+userCols+`, `+credentialCols+`
		FROM core."user" u
		LEFT JOIN core."account" a ON a."userId" = u."id" AND a."providerId" = $2
		WHERE u."email" = $1
		ORDER BY a."createdAt"
		LIMIT 1`, normalize.Email(email), store.CredentialProvider).Scan(append(u.dest(), ad...)...)
	if err != nil {
		return store.User{}, nil, r.wrap("user with credential", err)
	}
	user := u.done()
	if accountID == nil {
		return user, nil, nil
	}
	a.ID, a.CreatedAt, a.UpdatedAt = *accountID, *created, *updated
	acc := a.done()
	return user, &acc, nil
}

// ListUsers implements store.Reader.
func (r reader) ListUsers(ctx context.Context, opts store.ListUsersOptions) (store.UserPage, error) {
	const op = "list users"
	limit := normalize.Limit(opts.Limit, 100, 1000)
	offset := max(opts.Offset, 0)
	var page store.UserPage
	if err := r.q.QueryRow(ctx, `SELECT count(*) FROM core."user"`).Scan(&page.Total); err != nil {
		return page, r.wrap(op, err)
	}
	rows, err := r.q.Query(ctx, `SELECT `+userCols+` FROM core."user" u ORDER BY u."createdAt", u."id" LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return page, r.wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var u userScan
		if err := rows.Scan(u.dest()...); err != nil {
			return page, r.wrap(op, err)
		}
		page.Users = append(page.Users, u.done())
	}
	return page, r.wrap(op, rows.Err())
}

// CredentialAccount implements store.Reader.
func (r reader) CredentialAccount(ctx context.Context, userID string) (store.Account, error) {
	var a accountScan
	err := r.q.QueryRow(ctx, `SELECT `+accountCols+` FROM core."account" a
		WHERE a."userId" = $1 AND a."providerId" = $2 ORDER BY a."createdAt" LIMIT 1`, userID, store.CredentialProvider).Scan(a.dest()...)
	if err != nil {
		return store.Account{}, r.wrap("credential account", err)
	}
	return a.done(), nil
}

// AccountsOfUser implements store.Reader.
func (r reader) AccountsOfUser(ctx context.Context, userID string) ([]store.Account, error) {
	const op = "accounts of user"
	rows, err := r.q.Query(ctx, `SELECT `+accountCols+` FROM core."account" a WHERE a."userId" = $1 ORDER BY a."createdAt", a."id"`, userID)
	if err != nil {
		return nil, r.wrap(op, err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		var a accountScan
		if err := rows.Scan(a.dest()...); err != nil {
			return nil, r.wrap(op, err)
		}
		out = append(out, a.done())
	}
	return out, r.wrap(op, rows.Err())
}

// SessionByTokenHash implements store.Reader: the get-session hot path, one round trip.
func (r reader) SessionByTokenHash(ctx context.Context, tokenHash string) (store.Session, store.User, error) {
	return r.sessionAndUser(ctx, "session by token", `s."token"`, tokenHash)
}

// SessionByID implements store.Reader.
func (r reader) SessionByID(ctx context.Context, id string) (store.Session, store.User, error) {
	return r.sessionAndUser(ctx, "session by id", `s."id"`, id)
}

// sessionAndUser reads the session whose column equals value, with its user.
func (r reader) sessionAndUser(ctx context.Context, op, column, value string) (store.Session, store.User, error) {
	var s sessionScan
	var u userScan
	err := r.q.QueryRow(ctx, `SELECT `+sessionCols+`, `+userCols+`
		FROM core."session" s JOIN core."user" u ON u."id" = s."userId"
		WHERE `+column+` = $1`, value).Scan(append(s.dest(), u.dest()...)...)
	if err != nil {
		return store.Session{}, store.User{}, r.wrap(op, err)
	}
	sess, err := s.done()
	if err != nil {
		return store.Session{}, store.User{}, r.wrap(op, err)
	}
	return sess, u.done(), nil
}

// SessionsOfUser implements store.Reader.
func (r reader) SessionsOfUser(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	return r.querySessions(ctx, "sessions of user", `SELECT `+sessionCols+` FROM core."session" s
		WHERE s."userId" = $1 AND s."expiresAt" > $2`, userID, normalize.Instant(now))
}

// VerificationByIdentifier implements store.Reader.
func (r reader) VerificationByIdentifier(ctx context.Context, identifier string) (store.Verification, error) {
	var v verificationScan
	err := r.q.QueryRow(ctx, `SELECT `+verificationCols+` FROM core."verification" v
		WHERE v."identifier" = $1 ORDER BY v."createdAt" DESC, v."id" DESC LIMIT 1`, identifier).Scan(v.dest()...)
	if err != nil {
		return store.Verification{}, r.wrap("verification by identifier", err)
	}
	return v.done(), nil
}

// CreateUser implements store.Tx.
func (t *tx) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	u, err := normalize.User(u)
	if err != nil {
		return store.User{}, err
	}
	_, err = t.q.Exec(ctx, `INSERT INTO core."user"
		("id", "name", "email", "emailVerified", "image", "role", "banned", "banReason", "banExpires", "createdAt", "updatedAt")
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		u.ID, u.Name, u.Email, u.EmailVerified, u.Image, u.Role, u.Banned, u.BanReason, u.BanExpires, u.CreatedAt, u.UpdatedAt)
	if err != nil {
		return store.User{}, t.wrap("create user", err)
	}
	return u, nil
}

// assignments builds a SET list with numbered parameters after the given args.
type assignments struct {
	sets []string
	args []any
}

func (a *assignments) add(col string, v any) {
	a.args = append(a.args, v)
	a.sets = append(a.sets, `"`+col+`" = $`+strconv.Itoa(len(a.args)))
}

// UpdateUser implements store.Tx.
func (t *tx) UpdateUser(ctx context.Context, id string, up store.UserUpdate) (store.User, error) {
	up, err := normalize.UserUpdate(up)
	if err != nil {
		return store.User{}, err
	}
	a := assignments{args: []any{id}}
	a.add("updatedAt", up.UpdatedAt)
	if up.Name.Set {
		a.add("name", up.Name.Value)
	}
	if up.Email.Set {
		a.add("email", up.Email.Value)
	}
	if up.EmailVerified.Set {
		a.add("emailVerified", up.EmailVerified.Value)
	}
	if up.Image.Set {
		a.add("image", up.Image.Value)
	}
	if up.Role.Set {
		a.add("role", up.Role.Value)
	}
	if up.Banned.Set {
		a.add("banned", up.Banned.Value)
	}
	if up.BanReason.Set {
		a.add("banReason", up.BanReason.Value)
	}
	if up.BanExpires.Set {
		a.add("banExpires", up.BanExpires.Value)
	}
	return t.queryUser(ctx, "update user", `UPDATE core."user" AS u SET `+strings.Join(a.sets, ", ")+
		` WHERE u."id" = $1 RETURNING `+userCols, a.args...)
}

// DeleteUser implements store.Tx.
func (t *tx) DeleteUser(ctx context.Context, id string) (store.User, error) {
	return t.queryUser(ctx, "delete user", `DELETE FROM core."user" AS u WHERE u."id" = $1 RETURNING `+userCols, id)
}

// CreateAccount implements store.Tx.
func (t *tx) CreateAccount(ctx context.Context, a store.Account) (store.Account, error) {
	a, err := normalize.Account(a)
	if err != nil {
		return store.Account{}, err
	}
	_, err = t.q.Exec(ctx, `INSERT INTO core."account"
		("id", "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken",
		 "accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "password", "createdAt", "updatedAt")
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		a.ID, a.AccountID, a.ProviderID, a.UserID, nullIfEmpty(a.AccessToken), nullIfEmpty(a.RefreshToken), nullIfEmpty(a.IDToken),
		a.AccessTokenExpiresAt, a.RefreshTokenExpiresAt, nullIfEmpty(a.Scope), nullIfEmpty(a.Password), a.CreatedAt, a.UpdatedAt)
	if err != nil {
		return store.Account{}, t.wrap("create account", err)
	}
	return a, nil
}

// SetPassword implements store.Tx.
func (t *tx) SetPassword(ctx context.Context, userID, hash string, at time.Time) error {
	tag, err := t.q.Exec(ctx, `UPDATE core."account" SET "password" = $3, "updatedAt" = $4
		WHERE "userId" = $1 AND "providerId" = $2`, userID, store.CredentialProvider, hash, normalize.Time(at))
	if err != nil {
		return t.wrap("set password", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: set password: credential account: %w", store.ErrNotFound)
	}
	return nil
}

// CreateSession implements store.Tx.
func (t *tx) CreateSession(ctx context.Context, s store.Session) (store.Session, error) {
	s, err := normalize.Session(s)
	if err != nil {
		return store.Session{}, err
	}
	data, err := normalize.EncodeData(s.Data)
	if err != nil {
		return store.Session{}, err
	}
	_, err = t.q.Exec(ctx, `INSERT INTO core."session"
		("id", "token", "userId", "expiresAt", "ipAddress", "userAgent", "activeOrganizationId", "data", "createdAt", "updatedAt")
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		s.ID, s.TokenHash, s.UserID, s.ExpiresAt, nullIfEmpty(s.IPAddress), nullIfEmpty(s.UserAgent), s.ActiveOrganizationID, data, s.CreatedAt, s.UpdatedAt)
	if err != nil {
		return store.Session{}, t.wrap("create session", err)
	}
	return s, nil
}

// ExtendSession implements store.Tx.
func (t *tx) ExtendSession(ctx context.Context, id string, expiresAt, at time.Time) (store.Session, error) {
	return t.querySession(ctx, "extend session", `UPDATE core."session" AS s SET "expiresAt" = $2, "updatedAt" = $3
		WHERE s."id" = $1 RETURNING `+sessionCols, id, normalize.Time(expiresAt), normalize.Time(at))
}

// UpdateSession implements store.Tx.
func (t *tx) UpdateSession(ctx context.Context, id string, up store.SessionUpdate) (store.Session, error) {
	const op = "update session"
	var raw []byte
	if err := t.q.QueryRow(ctx, `SELECT "data" FROM core."session" WHERE "id" = $1 FOR UPDATE`, id).Scan(&raw); err != nil {
		return store.Session{}, t.wrap(op, err)
	}
	old, err := normalize.DecodeData(raw)
	if err != nil {
		return store.Session{}, err
	}
	data, err := normalize.EncodeData(normalize.MergeData(old, up.Data))
	if err != nil {
		return store.Session{}, err
	}
	a := assignments{args: []any{id}}
	a.add("updatedAt", normalize.Time(up.UpdatedAt))
	a.add("data", data)
	if up.ActiveOrganizationID.Set {
		a.add("activeOrganizationId", up.ActiveOrganizationID.Value)
	}
	return t.querySession(ctx, op, `UPDATE core."session" AS s SET `+strings.Join(a.sets, ", ")+
		` WHERE s."id" = $1 RETURNING `+sessionCols, a.args...)
}

// DeleteSession implements store.Tx.
func (t *tx) DeleteSession(ctx context.Context, userID, id string) (store.Session, error) {
	return t.querySession(ctx, "delete session", `DELETE FROM core."session" AS s
		WHERE s."id" = $1 AND s."userId" = $2 RETURNING `+sessionCols, id, userID)
}

// DeleteUserSessions implements store.Tx.
func (t *tx) DeleteUserSessions(ctx context.Context, userID, exceptID string) ([]store.Session, error) {
	return t.querySessions(ctx, "delete user sessions", `DELETE FROM core."session" AS s
		WHERE s."userId" = $1 AND s."id" <> $2 RETURNING `+sessionCols, userID, exceptID)
}

// DeleteExpiredSessions implements store.Tx.
func (t *tx) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) ([]store.Session, error) {
	// SKIP LOCKED: two replicas cleaning up at once split the work instead of waiting.
	return t.querySessions(ctx, "delete expired sessions", `DELETE FROM core."session" AS s WHERE s."id" IN (
			SELECT "id" FROM core."session" WHERE "expiresAt" <= $1 ORDER BY "expiresAt" LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING `+sessionCols, normalize.Instant(now), normalize.Limit(limit, 1000, 10000))
}

// CreateVerification implements store.Tx.
func (t *tx) CreateVerification(ctx context.Context, v store.Verification) (store.Verification, error) {
	v, err := normalize.Verification(v)
	if err != nil {
		return store.Verification{}, err
	}
	_, err = t.q.Exec(ctx, `INSERT INTO core."verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
		VALUES ($1, $2, $3, $4, $5, $6)`, v.ID, v.Identifier, v.Value, v.ExpiresAt, v.CreatedAt, v.UpdatedAt)
	if err != nil {
		return store.Verification{}, t.wrap("create verification", err)
	}
	return v, nil
}

// ConsumeVerification implements store.Tx. Of two transactions consuming the
// same token, the second waits for the first's row locks and then finds the
// rows gone.
func (t *tx) ConsumeVerification(ctx context.Context, identifier string) (store.Verification, error) {
	const op = "consume verification"
	vs, err := t.queryVerifications(ctx, op, `DELETE FROM core."verification" AS v WHERE v."identifier" = $1 RETURNING `+verificationCols, identifier)
	if err != nil {
		return store.Verification{}, err
	}
	return newest(op, vs)
}

// newest picks the most recent verification.
func newest(op string, vs []store.Verification) (store.Verification, error) {
	if len(vs) == 0 {
		return store.Verification{}, fmt.Errorf("store: %s: %w", op, store.ErrNotFound)
	}
	best := vs[0]
	for _, v := range vs[1:] {
		if v.CreatedAt.After(best.CreatedAt) || (v.CreatedAt.Equal(best.CreatedAt) && v.ID > best.ID) {
			best = v
		}
	}
	return best, nil
}

// DeleteVerifications implements store.Tx.
func (t *tx) DeleteVerifications(ctx context.Context, identifier string) (int, error) {
	tag, err := t.q.Exec(ctx, `DELETE FROM core."verification" WHERE "identifier" = $1`, identifier)
	if err != nil {
		return 0, t.wrap("delete verifications", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteExpiredVerifications implements store.Tx.
func (t *tx) DeleteExpiredVerifications(ctx context.Context, now time.Time, limit int) (int, error) {
	tag, err := t.q.Exec(ctx, `DELETE FROM core."verification" WHERE "id" IN (
		SELECT "id" FROM core."verification" WHERE "expiresAt" <= $1 ORDER BY "expiresAt" LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		normalize.Instant(now), normalize.Limit(limit, 1000, 10000))
	if err != nil {
		return 0, t.wrap("delete expired verifications", err)
	}
	return int(tag.RowsAffected()), nil
}

var _ store.Tx = (*tx)(nil)
