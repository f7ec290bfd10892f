package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/internal/normalize"
)

// cols lists columns, qualified with a table alias ("" for none: SQLite's
// RETURNING takes only the bare names of the modified table). A name made by
// coalesce is read as ” when NULL.
func cols(alias string, names ...string) string {
	prefix := ""
	if alias != "" {
		prefix = alias + "."
	}
	out := make([]string, len(names))
	for i, n := range names {
		if c, ok := strings.CutPrefix(n, "?"); ok {
			out[i] = `COALESCE(` + prefix + `"` + c + `", '')`
			continue
		}
		if c, ok := strings.CutPrefix(n, "@"); ok {
			out[i] = `CAST(` + prefix + `"` + c + `" AS TEXT)`
			continue
		}
		out[i] = prefix + `"` + n + `"`
	}
	return strings.Join(out, ", ")
}

// coalesce marks a nullable text column to be read as "" when NULL.
func coalesce(col string) string { return "?" + col }

// date marks a date column to be read as stored (text, or integer
// milliseconds as text): the driver's own parsing of "date" columns tries
// several layouts per value and was a fifth of the session lookup's time.
func date(col string) string { return "@" + col }

// Column lists, in the order the scan functions read them.
func userCols(alias string) string {
	return cols(alias, "id", "name", "email", "emailVerified", "image", "role", "banned", "banReason", date("banExpires"), date("createdAt"), date("updatedAt"))
}

func accountCols(alias string) string {
	return cols(alias, "id", "accountId", "providerId", "userId", coalesce("accessToken"), coalesce("refreshToken"), coalesce("idToken"),
		date("accessTokenExpiresAt"), date("refreshTokenExpiresAt"), coalesce("scope"), coalesce("password"), date("createdAt"), date("updatedAt"))
}

func sessionCols(alias string) string {
	return cols(alias, "id", "token", "userId", date("expiresAt"), coalesce("ipAddress"), coalesce("userAgent"),
		"activeOrganizationId", "data", date("createdAt"), date("updatedAt"))
}

func verificationCols(alias string) string {
	return cols(alias, "id", "identifier", "value", date("expiresAt"), date("createdAt"), date("updatedAt"))
}

func userDest(u *store.User) []any {
	return []any{&u.ID, &u.Name, &u.Email, &u.EmailVerified, &u.Image, &u.Role, &u.Banned, &u.BanReason,
		nullTimeCol{&u.BanExpires}, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}}
}

func accountDest(a *store.Account) []any {
	return []any{&a.ID, &a.AccountID, &a.ProviderID, &a.UserID, &a.AccessToken, &a.RefreshToken, &a.IDToken,
		nullTimeCol{&a.AccessTokenExpiresAt}, nullTimeCol{&a.RefreshTokenExpiresAt}, &a.Scope, &a.Password,
		timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}}
}

type sessionScan struct {
	store.Session
	data string
}

func (s *sessionScan) dest() []any {
	return []any{&s.ID, &s.TokenHash, &s.UserID, timeCol{&s.ExpiresAt}, &s.IPAddress, &s.UserAgent,
		&s.ActiveOrganizationID, &s.data, timeCol{&s.CreatedAt}, timeCol{&s.UpdatedAt}}
}

func (s *sessionScan) done() (store.Session, error) {
	data, err := normalize.DecodeData([]byte(s.data))
	s.Data = data
	return s.Session, err
}

func verificationDest(v *store.Verification) []any {
	return []any{&v.ID, &v.Identifier, &v.Value, timeCol{&v.ExpiresAt}, timeCol{&v.CreatedAt}, timeCol{&v.UpdatedAt}}
}

// nullIfEmpty stores "" as NULL in nullable text columns.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (r reader) queryUser(ctx context.Context, op, query string, args ...any) (store.User, error) {
	var u store.User
	if err := r.q.QueryRowContext(ctx, query, args...).Scan(userDest(&u)...); err != nil {
		return store.User{}, r.wrap(op, err)
	}
	return u, nil
}

func (r reader) querySession(ctx context.Context, op, query string, args ...any) (store.Session, error) {
	var s sessionScan
	if err := r.q.QueryRowContext(ctx, query, args...).Scan(s.dest()...); err != nil {
		return store.Session{}, r.wrap(op, err)
	}
	out, err := s.done()
	return out, r.wrap(op, err)
}

// querySessions returns the sessions a query yields, oldest first.
func (r reader) querySessions(ctx context.Context, op, query string, args ...any) ([]store.Session, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
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
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (r reader) queryVerifications(ctx context.Context, op, query string, args ...any) ([]store.Verification, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, r.wrap(op, err)
	}
	defer rows.Close()
	var out []store.Verification
	for rows.Next() {
		var v store.Verification
		if err := rows.Scan(verificationDest(&v)...); err != nil {
			return nil, r.wrap(op, err)
		}
		out = append(out, v)
	}
	return out, r.wrap(op, rows.Err())
}

// UserByID implements store.Reader.
func (r reader) UserByID(ctx context.Context, id string) (store.User, error) {
	return r.queryUser(ctx, "user by id", `SELECT `+userCols("")+` FROM "user" WHERE "id" = ?`, id)
}

// UserByEmail implements store.Reader.
func (r reader) UserByEmail(ctx context.Context, email string) (store.User, error) {
	return r.queryUser(ctx, "user by email", `SELECT `+userCols("")+` FROM "user" WHERE "email" = ?`, normalize.Email(email))
}

// UserWithCredential implements store.Reader.
func (r reader) UserWithCredential(ctx context.Context, email string) (store.User, *store.Account, error) {
	var u store.User
	var a store.Account
	// Without a credential account the LEFT JOIN yields NULLs: COALESCE the
	// NOT NULL text columns and read the id and times through pointers.
	var accountID *string
	var created, updated *time.Time
	ad := accountDest(&a)
	ad[0], ad[11], ad[12] = &accountID, nullTimeCol{&created}, nullTimeCol{&updated}
	acols := cols("a", "id", coalesce("accountId"), coalesce("providerId"), coalesce("userId"), coalesce("accessToken"),
		coalesce("refreshToken"), coalesce("idToken"), date("accessTokenExpiresAt"), date("refreshTokenExpiresAt"), coalesce("scope"),
		coalesce("password"), date("createdAt"), date("updatedAt"))
	err := r.q.QueryRowContext(ctx, `SELECT `+userCols("u")+`, `+acols+`
		FROM "user" u
		LEFT JOIN "account" a ON a."userId" = u."id" AND a."providerId" = ?
		WHERE u."email" = ?
		ORDER BY a."createdAt"
		LIMIT 1`, store.CredentialProvider, normalize.Email(email)).Scan(append(userDest(&u), ad...)...)
	if err != nil {
		return store.User{}, nil, r.wrap("user with credential", err)
	}
	if accountID == nil {
		return u, nil, nil
	}
	a.ID, a.CreatedAt, a.UpdatedAt = *accountID, *created, *updated
	return u, &a, nil
}

// ListUsers implements store.Reader.
func (r reader) ListUsers(ctx context.Context, opts store.ListUsersOptions) (store.UserPage, error) {
	const op = "list users"
	limit := normalize.Limit(opts.Limit, 100, 1000)
	offset := max(opts.Offset, 0)
	var page store.UserPage
	if err := r.q.QueryRowContext(ctx, `SELECT count(*) FROM "user"`).Scan(&page.Total); err != nil {
		return page, r.wrap(op, err)
	}
	rows, err := r.q.QueryContext(ctx, `SELECT `+userCols("")+` FROM "user" ORDER BY "createdAt", "id" LIMIT ? OFFSET ?`, limit, offset)
	if err != nil {
		return page, r.wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var u store.User
		if err := rows.Scan(userDest(&u)...); err != nil {
			return page, r.wrap(op, err)
		}
		page.Users = append(page.Users, u)
	}
	return page, r.wrap(op, rows.Err())
}

// CredentialAccount implements store.Reader.
func (r reader) CredentialAccount(ctx context.Context, userID string) (store.Account, error) {
	var a store.Account
	err := r.q.QueryRowContext(ctx, `SELECT `+accountCols("")+` FROM "account"
		WHERE "userId" = ? AND "providerId" = ? ORDER BY "createdAt" LIMIT 1`, userID, store.CredentialProvider).Scan(accountDest(&a)...)
	if err != nil {
		return store.Account{}, r.wrap("credential account", err)
	}
	return a, nil
}

// AccountsOfUser implements store.Reader.
func (r reader) AccountsOfUser(ctx context.Context, userID string) ([]store.Account, error) {
	const op = "accounts of user"
	rows, err := r.q.QueryContext(ctx, `SELECT `+accountCols("")+` FROM "account" WHERE "userId" = ? ORDER BY "createdAt", "id"`, userID)
	if err != nil {
		return nil, r.wrap(op, err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		var a store.Account
		if err := rows.Scan(accountDest(&a)...); err != nil {
			return nil, r.wrap(op, err)
		}
		out = append(out, a)
	}
	return out, r.wrap(op, rows.Err())
}

// hotStmt is the prepared session lookup, nil inside a transaction or before migrating.
func (r reader) hotStmt() *sql.Stmt {
	if r.sessionByToken == nil {
		return nil
	}
	return r.sessionByToken.Load()
}

// sessionByTokenSQL is the get-session hot path: session and user in one query.
var sessionByTokenSQL = `SELECT ` + sessionCols("s") + `, ` + userCols("u") + `
	FROM "session" s JOIN "user" u ON u."id" = s."userId"
	WHERE s."token" = ?`

// SessionByTokenHash implements store.Reader: the get-session hot path, one query.
func (r reader) SessionByTokenHash(ctx context.Context, tokenHash string) (store.Session, store.User, error) {
	var row *sql.Row
	if stmt := r.hotStmt(); stmt != nil {
		row = stmt.QueryRowContext(ctx, tokenHash)
	} else {
		row = r.q.QueryRowContext(ctx, sessionByTokenSQL, tokenHash)
	}
	return r.scanSessionAndUser("session by token", row)
}

// SessionByID implements store.Reader.
func (r reader) SessionByID(ctx context.Context, id string) (store.Session, store.User, error) {
	return r.scanSessionAndUser("session by id", r.q.QueryRowContext(ctx, `SELECT `+sessionCols("s")+`, `+userCols("u")+`
		FROM "session" s JOIN "user" u ON u."id" = s."userId"
		WHERE s."id" = ?`, id))
}

// scanSessionAndUser reads a row of session columns then user columns.
func (r reader) scanSessionAndUser(op string, row *sql.Row) (store.Session, store.User, error) {
	var s sessionScan
	var u store.User
	if err := row.Scan(append(s.dest(), userDest(&u)...)...); err != nil {
		return store.Session{}, store.User{}, r.wrap(op, err)
	}
	sess, err := s.done()
	if err != nil {
		return store.Session{}, store.User{}, r.wrap(op, err)
	}
	return sess, u, nil
}

// SessionsOfUser implements store.Reader.
func (r reader) SessionsOfUser(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	return r.querySessions(ctx, "sessions of user", `SELECT `+sessionCols("")+` FROM "session"
		WHERE "userId" = ? AND "expiresAt" > ?`, userID, encodeTime(now))
}

// VerificationByIdentifier implements store.Reader.
func (r reader) VerificationByIdentifier(ctx context.Context, identifier string) (store.Verification, error) {
	var v store.Verification
	err := r.q.QueryRowContext(ctx, `SELECT `+verificationCols("")+` FROM "verification"
		WHERE "identifier" = ? ORDER BY "createdAt" DESC, "id" DESC LIMIT 1`, identifier).Scan(verificationDest(&v)...)
	if err != nil {
		return store.Verification{}, r.wrap("verification by identifier", err)
	}
	return v, nil
}

// CreateUser implements store.Tx.
func (t *tx) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	u, err := normalize.User(u)
	if err != nil {
		return store.User{}, err
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO "user"
		("id", "name", "email", "emailVerified", "image", "role", "banned", "banReason", "banExpires", "createdAt", "updatedAt")
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, u.Email, u.EmailVerified, u.Image, u.Role, u.Banned, u.BanReason, encodeTimePtr(u.BanExpires),
		encodeTime(u.CreatedAt), encodeTime(u.UpdatedAt))
	if err != nil {
		return store.User{}, t.wrap("create user", err)
	}
	return u, nil
}

// assignments builds a SET list.
type assignments struct {
	sets []string
	args []any
}

func (a *assignments) add(col string, v any) {
	a.sets = append(a.sets, `"`+col+`" = ?`)
	a.args = append(a.args, v)
}

// UpdateUser implements store.Tx.
func (t *tx) UpdateUser(ctx context.Context, id string, up store.UserUpdate) (store.User, error) {
	up, err := normalize.UserUpdate(up)
	if err != nil {
		return store.User{}, err
	}
	var a assignments
	a.add("updatedAt", encodeTime(up.UpdatedAt))
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
		a.add("banExpires", encodeTimePtr(up.BanExpires.Value))
	}
	return t.queryUser(ctx, "update user", `UPDATE "user" SET `+strings.Join(a.sets, ", ")+
		` WHERE "id" = ? RETURNING `+userCols(""), append(a.args, id)...)
}

// DeleteUser implements store.Tx.
func (t *tx) DeleteUser(ctx context.Context, id string) (store.User, error) {
	return t.queryUser(ctx, "delete user", `DELETE FROM "user" WHERE "id" = ? RETURNING `+userCols(""), id)
}

// CreateAccount implements store.Tx.
func (t *tx) CreateAccount(ctx context.Context, a store.Account) (store.Account, error) {
	a, err := normalize.Account(a)
	if err != nil {
		return store.Account{}, err
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO "account"
		("id", "accountId", "providerId", "userId", "accessToken", "refreshToken", "idToken",
		 "accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "password", "createdAt", "updatedAt")
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.AccountID, a.ProviderID, a.UserID, nullIfEmpty(a.AccessToken), nullIfEmpty(a.RefreshToken), nullIfEmpty(a.IDToken),
		encodeTimePtr(a.AccessTokenExpiresAt), encodeTimePtr(a.RefreshTokenExpiresAt), nullIfEmpty(a.Scope), nullIfEmpty(a.Password),
		encodeTime(a.CreatedAt), encodeTime(a.UpdatedAt))
	if err != nil {
		return store.Account{}, t.wrap("create account", err)
	}
	return a, nil
}

// SetPassword implements store.Tx.
func (t *tx) SetPassword(ctx context.Context, userID, hash string, at time.Time) error {
	res, err := t.q.ExecContext(ctx, `UPDATE "account" SET "password" = ?, "updatedAt" = ?
		WHERE "userId" = ? AND "providerId" = ?`, hash, encodeTime(normalize.Time(at)), userID, store.CredentialProvider)
	if err != nil {
		return t.wrap("set password", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
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
	_, err = t.q.ExecContext(ctx, `INSERT INTO "session"
		("id", "token", "userId", "expiresAt", "ipAddress", "userAgent", "activeOrganizationId", "data", "createdAt", "updatedAt")
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TokenHash, s.UserID, encodeTime(s.ExpiresAt), nullIfEmpty(s.IPAddress), nullIfEmpty(s.UserAgent),
		s.ActiveOrganizationID, string(data), encodeTime(s.CreatedAt), encodeTime(s.UpdatedAt))
	if err != nil {
		return store.Session{}, t.wrap("create session", err)
	}
	return s, nil
}

// ExtendSession implements store.Tx.
func (t *tx) ExtendSession(ctx context.Context, id string, expiresAt, at time.Time) (store.Session, error) {
	return t.querySession(ctx, "extend session", `UPDATE "session" SET "expiresAt" = ?, "updatedAt" = ?
		WHERE "id" = ? RETURNING `+sessionCols(""), encodeTime(normalize.Time(expiresAt)), encodeTime(normalize.Time(at)), id)
}

// UpdateSession implements store.Tx. The transaction holds the write lock,
// so reading and rewriting data cannot interleave with another writer.
func (t *tx) UpdateSession(ctx context.Context, id string, up store.SessionUpdate) (store.Session, error) {
	const op = "update session"
	var raw string
	if err := t.q.QueryRowContext(ctx, `SELECT "data" FROM "session" WHERE "id" = ?`, id).Scan(&raw); err != nil {
		return store.Session{}, t.wrap(op, err)
	}
	old, err := normalize.DecodeData([]byte(raw))
	if err != nil {
		return store.Session{}, err
	}
	data, err := normalize.EncodeData(normalize.MergeData(old, up.Data))
	if err != nil {
		return store.Session{}, err
	}
	var a assignments
	a.add("updatedAt", encodeTime(normalize.Time(up.UpdatedAt)))
	a.add("data", string(data))
	if up.ActiveOrganizationID.Set {
		a.add("activeOrganizationId", up.ActiveOrganizationID.Value)
	}
	return t.querySession(ctx, op, `UPDATE "session" SET `+strings.Join(a.sets, ", ")+
		` WHERE "id" = ? RETURNING `+sessionCols(""), append(a.args, id)...)
}

// DeleteSession implements store.Tx.
func (t *tx) DeleteSession(ctx context.Context, userID, id string) (store.Session, error) {
	return t.querySession(ctx, "delete session", `DELETE FROM "session"
		WHERE "id" = ? AND "userId" = ? RETURNING `+sessionCols(""), id, userID)
}

// DeleteUserSessions implements store.Tx.
func (t *tx) DeleteUserSessions(ctx context.Context, userID, exceptID string) ([]store.Session, error) {
	return t.querySessions(ctx, "delete user sessions", `DELETE FROM "session"
		WHERE "userId" = ? AND "id" <> ? RETURNING `+sessionCols(""), userID, exceptID)
}

// DeleteExpiredSessions implements store.Tx.
func (t *tx) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) ([]store.Session, error) {
	return t.querySessions(ctx, "delete expired sessions", `DELETE FROM "session" WHERE "id" IN (
			SELECT "id" FROM "session" WHERE "expiresAt" <= ? ORDER BY "expiresAt" LIMIT ?)
		RETURNING `+sessionCols(""), encodeTime(now), normalize.Limit(limit, 1000, 10000))
}

// CreateVerification implements store.Tx.
func (t *tx) CreateVerification(ctx context.Context, v store.Verification) (store.Verification, error) {
	v, err := normalize.Verification(v)
	if err != nil {
		return store.Verification{}, err
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
		VALUES (?, ?, ?, ?, ?, ?)`, v.ID, v.Identifier, v.Value, encodeTime(v.ExpiresAt), encodeTime(v.CreatedAt), encodeTime(v.UpdatedAt))
	if err != nil {
		return store.Verification{}, t.wrap("create verification", err)
	}
	return v, nil
}

// ConsumeVerification implements store.Tx. Writers take turns, so of two
// transactions consuming the same token the second finds the rows gone.
func (t *tx) ConsumeVerification(ctx context.Context, identifier string) (store.Verification, error) {
	const op = "consume verification"
	vs, err := t.queryVerifications(ctx, op, `DELETE FROM "verification" WHERE "identifier" = ? RETURNING `+verificationCols(""), identifier)
	if err != nil {
		return store.Verification{}, err
	}
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
	res, err := t.q.ExecContext(ctx, `DELETE FROM "verification" WHERE "identifier" = ?`, identifier)
	return rowsAffected(t.reader, "delete verifications", res, err)
}

// DeleteExpiredVerifications implements store.Tx.
func (t *tx) DeleteExpiredVerifications(ctx context.Context, now time.Time, limit int) (int, error) {
	res, err := t.q.ExecContext(ctx, `DELETE FROM "verification" WHERE "id" IN (
		SELECT "id" FROM "verification" WHERE "expiresAt" <= ? ORDER BY "expiresAt" LIMIT ?)`,
		encodeTime(now), normalize.Limit(limit, 1000, 10000))
	return rowsAffected(t.reader, "delete expired verifications", res, err)
}

func rowsAffected(r reader, op string, res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, r.wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, r.wrap(op, err)
	}
	return int(n), nil
}

var _ store.Tx = (*tx)(nil)
