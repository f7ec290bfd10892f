package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/authbus/authbus/services/core/internal/store"
	"github.com/authbus/authbus/services/core/internal/store/sqlite"
	"github.com/authbus/authbus/services/core/internal/store/storeopen"
)

// Source is a better-auth database opened read-only: Postgres (the tables
// found through the connection's search_path, "public" by default) or a
// SQLite file. It is not safe for concurrent use.
type Source struct {
	pg   *pgx.Conn // Postgres, or
	db   *sql.DB   // SQLite
	cols map[string]map[string]bool
}

// The better-auth columns the importer reads; those marked required must
// exist, the others (e.g. the admin plugin's) are read as NULL when absent.
var tables = []struct {
	name     string
	required []string
	optional []string
}{
	{"user", []string{"id", "email"}, []string{"name", "emailVerified", "image", "createdAt", "updatedAt", "role", "banned", "banReason", "banExpires"}},
	{"account", []string{"id", "accountId", "providerId", "userId"}, []string{"accessToken", "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt", "scope", "password", "createdAt", "updatedAt"}},
	{"verification", []string{"id", "identifier", "value", "expiresAt"}, []string{"createdAt", "updatedAt"}},
}

// OpenSource opens the better-auth database at rawURL: postgres://… or a
// SQLite file (sqlite:path, file:path or a path), the URL forms
// storeopen.Parse accepts. It checks that the tables are better-auth's.
func OpenSource(ctx context.Context, rawURL string) (*Source, error) {
	backend, target, err := storeopen.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("import: source: %w", err)
	}
	s := &Source{cols: map[string]map[string]bool{}}
	switch backend {
	case storeopen.Postgres:
		cfg, err := pgx.ParseConfig(target)
		if err != nil {
			return nil, fmt.Errorf("import: source: %w", err)
		}
		if _, ok := cfg.RuntimeParams["application_name"]; !ok {
			cfg.RuntimeParams["application_name"] = "authbus-import"
		}
		if s.pg, err = pgx.ConnectConfig(ctx, cfg); err != nil {
			return nil, fmt.Errorf("import: source: connect to postgres at %s:%d: %w", cfg.Host, cfg.Port, err)
		}
	default:
		if target == sqlite.Memory {
			return nil, errors.New("import: source: a SQLite database in memory has nothing to import; give the better-auth database file")
		}
		// Opening a missing path would create an empty database.
		if _, err := os.Stat(target); err != nil {
			return nil, fmt.Errorf("import: source: %w", err)
		}
		if s.db, err = sql.Open("sqlite", target+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)"); err != nil {
			return nil, fmt.Errorf("import: source: open %s: %w", target, err)
		}
		if err := s.db.PingContext(ctx); err != nil {
			s.db.Close()
			return nil, fmt.Errorf("import: source: open %s: %w", target, err)
		}
	}
	if err := s.inspect(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connection.
func (s *Source) Close() error {
	if s.pg != nil {
		return s.pg.Close(context.Background())
	}
	return s.db.Close()
}

// inspect reads the columns of the tables and checks the required ones.
func (s *Source) inspect(ctx context.Context) error {
	var errs []error
	// session is only counted (sessions are not carried).
	names := []string{"user", "account", "verification", "session"}
	for _, name := range names {
		var q string
		arg := name
		if s.pg != nil {
			q = `SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`
			arg = `"` + name + `"`
		} else {
			q = `SELECT name FROM pragma_table_info($1)`
		}
		rows, err := s.query(ctx, q, arg)
		if err != nil {
			return fmt.Errorf("import: source: read the columns of %q: %w", name, err)
		}
		cols := map[string]bool{}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return fmt.Errorf("import: source: read the columns of %q: %w", name, err)
			}
			cols[c] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("import: source: read the columns of %q: %w", name, err)
		}
		s.cols[name] = cols
		if name == "session" {
			continue
		}
		if len(cols) == 0 {
			errs = append(errs, fmt.Errorf("no table %q", name))
			continue
		}
		for _, c := range requiredColumns(name) {
			if !cols[c] {
				errs = append(errs, fmt.Errorf("table %q has no column %q", name, c))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("import: source is not a better-auth database (tables user, account and verification, contract §5): %w", errors.Join(errs...))
	}
	return nil
}

// rows is what pgx.Rows and *sql.Rows have in common.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// query runs q, written with $n placeholders, on either database.
func (s *Source) query(ctx context.Context, q string, args ...any) (rows, error) {
	if s.pg != nil {
		r, err := s.pg.Query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	// $n becomes ?n, SQLite's numbered parameter.
	r, err := s.db.QueryContext(ctx, strings.ReplaceAll(q, "$", "?"), args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

// selectList selects the columns, NULL for those the table lacks.
func (s *Source) selectList(table string, cols []string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		if s.cols[table][c] {
			parts[i] = `"` + c + `"`
		} else {
			parts[i] = "NULL"
		}
	}
	return strings.Join(parts, ", ")
}

// requiredColumns lists the columns a table must have.
func requiredColumns(table string) []string {
	for _, t := range tables {
		if t.name == table {
			return t.required
		}
	}
	return nil
}

// columns lists a table's required then optional columns.
func columns(table string) []string {
	for _, t := range tables {
		if t.name == table {
			return append(append([]string{}, t.required...), t.optional...)
		}
	}
	panic("import: unknown table " + table)
}

// sourceRow is a row as read: the values by column name, or why they
// cannot be used.
type sourceRow struct {
	id  string
	val map[string]any
}

// page reads up to limit rows of table with id > after, by id.
func (s *Source) page(ctx context.Context, table, after string, limit int) ([]sourceRow, error) {
	cols := columns(table)
	q := fmt.Sprintf(`SELECT %s FROM "%s" WHERE "id" > $1 ORDER BY "id" LIMIT %d`, s.selectList(table, cols), table, limit)
	return s.read(ctx, table, cols, q, after)
}

// accountsOf reads the accounts of the users, by user then id.
func (s *Source) accountsOf(ctx context.Context, userIDs []string) ([]sourceRow, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	cols := columns("account")
	if s.pg != nil {
		q := fmt.Sprintf(`SELECT %s FROM "account" WHERE "userId" = ANY($1) ORDER BY "userId", "id"`, s.selectList("account", cols))
		return s.read(ctx, "account", cols, q, userIDs)
	}
	marks := make([]string, len(userIDs))
	args := make([]any, len(userIDs))
	for i, id := range userIDs {
		marks[i] = "$" + strconv.Itoa(i+1)
		args[i] = id
	}
	q := fmt.Sprintf(`SELECT %s FROM "account" WHERE "userId" IN (%s) ORDER BY "userId", "id"`, s.selectList("account", cols), strings.Join(marks, ", "))
	return s.read(ctx, "account", cols, q, args...)
}

// count returns the number of rows of table, 0 when it does not exist.
func (s *Source) count(ctx context.Context, table string) (int, error) {
	if len(s.cols[table]) == 0 {
		return 0, nil
	}
	r, err := s.query(ctx, fmt.Sprintf(`SELECT count(*) FROM "%s"`, table))
	if err != nil {
		return 0, fmt.Errorf("import: source: count %s: %w", table, err)
	}
	defer r.Close()
	var n int64
	if r.Next() {
		if err := r.Scan(&n); err != nil {
			return 0, fmt.Errorf("import: source: count %s: %w", table, err)
		}
	}
	return int(n), r.Err()
}

func (s *Source) read(ctx context.Context, table string, cols []string, q string, args ...any) ([]sourceRow, error) {
	r, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("import: source: read %s: %w", table, err)
	}
	defer r.Close()
	var out []sourceRow
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("import: source: read %s: %w", table, err)
		}
		row := sourceRow{val: make(map[string]any, len(cols))}
		for i, c := range cols {
			row.val[c] = vals[i]
		}
		row.id, _ = text(vals[0])
		out = append(out, row)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("import: source: read %s: %w", table, err)
	}
	return out, nil
}

// The conversions below read a value as either database returns it:
// Postgres text, boolean and timestamptz; SQLite text, 0/1 integers and
// dates as ISO 8601 text (better-auth's Kysely adapter) or, from other
// tools, SQLite's "YYYY-MM-DD HH:MM:SS" or Unix time numbers.

// text reads a string column; ok is false for NULL.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case []byte:
		return string(x), true
	default:
		return fmt.Sprint(x), true
	}
}

// textPtr reads a nullable string column.
func textPtr(v any) *string {
	s, ok := text(v)
	if !ok {
		return nil
	}
	return &s
}

// boolean reads a boolean column; NULL is false.
func boolean(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case int64:
		return x != 0, nil
	case float64:
		return x != 0, nil
	case string, []byte:
		s, _ := text(x)
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "true", "t", "yes":
			return true, nil
		case "0", "false", "f", "no", "":
			return false, nil
		}
		return false, fmt.Errorf("%q is not a boolean", s)
	}
	return false, fmt.Errorf("%T is not a boolean", v)
}

// textLayouts are the date forms read from text, tried in order.
var textLayouts = []string{
	time.RFC3339Nano,                      // 2026-01-02T03:04:05.678Z (better-auth), any fraction or offset
	"2006-01-02 15:04:05.999999999Z07:00", // Postgres timestamptz as text
	"2006-01-02 15:04:05.999999999Z07",    // idem, hour-only offset
	"2006-01-02T15:04:05.999999999",       // no zone: UTC
	"2006-01-02 15:04:05.999999999",       // SQLite CURRENT_TIMESTAMP (UTC)
	"2006-01-02",                          // a date
	"Mon Jan 02 2006 15:04:05 GMT-0700",   // JavaScript Date.toString(), without its "(zone name)"
}

// moment reads a date column; ok is false for NULL.
func moment(v any) (time.Time, bool, error) {
	var t time.Time
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		t = x
	case int64:
		t = unix(float64(x))
	case float64:
		t = unix(x)
	case string, []byte:
		s, _ := text(x)
		s = strings.TrimSpace(s)
		if s == "" {
			return time.Time{}, false, nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			t = unix(f)
			break
		}
		if i := strings.Index(s, " ("); i > 0 { // "… GMT+0000 (Coordinated Universal Time)"
			s = s[:i]
		}
		parsed := false
		for _, layout := range textLayouts {
			if p, err := time.Parse(layout, s); err == nil {
				t, parsed = p, true
				break
			}
		}
		if !parsed {
			return time.Time{}, false, fmt.Errorf("%q is not a date", s)
		}
	default:
		return time.Time{}, false, fmt.Errorf("%T is not a date", v)
	}
	return t.UTC().Truncate(time.Millisecond), true, nil
}

// momentPtr reads a nullable date column.
func momentPtr(v any) (*time.Time, error) {
	t, ok, err := moment(v)
	if err != nil || !ok {
		return nil, err
	}
	return &t, nil
}

// unix reads a Unix time: milliseconds (JavaScript's Date.now()), or
// seconds when so small that milliseconds would fall before 1973.
func unix(f float64) time.Time {
	if math.Abs(f) < 1e11 {
		return time.UnixMilli(int64(f * 1000))
	}
	return time.UnixMilli(int64(f))
}

// toUser converts a user row (lower-casing the email, defaulting the
// admin plugin's fields as better-auth does).
func toUser(r sourceRow) (store.User, error) {
	var errs []error
	u := store.User{ID: r.id, Role: store.RoleUser}
	email, _ := text(r.val["email"])
	u.Email = strings.ToLower(email)
	if u.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if u.Email == "" {
		errs = append(errs, errors.New("email is empty"))
	}
	u.Name, _ = text(r.val["name"])
	u.Image = textPtr(r.val["image"])
	if role, _ := text(r.val["role"]); strings.TrimSpace(role) != "" {
		u.Role = role
	}
	u.BanReason = textPtr(r.val["banReason"])
	var err error
	if u.EmailVerified, err = boolean(r.val["emailVerified"]); err != nil {
		errs = append(errs, fmt.Errorf("emailVerified: %w", err))
	}
	if u.Banned, err = boolean(r.val["banned"]); err != nil {
		errs = append(errs, fmt.Errorf("banned: %w", err))
	}
	if u.BanExpires, err = momentPtr(r.val["banExpires"]); err != nil {
		errs = append(errs, fmt.Errorf("banExpires: %w", err))
	}
	if u.CreatedAt, _, err = moment(r.val["createdAt"]); err != nil {
		errs = append(errs, fmt.Errorf("createdAt: %w", err))
	}
	if u.UpdatedAt, _, err = moment(r.val["updatedAt"]); err != nil {
		errs = append(errs, fmt.Errorf("updatedAt: %w", err))
	}
	return u, errors.Join(errs...)
}

// toAccount converts an account row.
func toAccount(r sourceRow) (store.Account, error) {
	var errs []error
	a := store.Account{ID: r.id}
	a.AccountID, _ = text(r.val["accountId"])
	a.ProviderID, _ = text(r.val["providerId"])
	a.UserID, _ = text(r.val["userId"])
	for _, f := range []struct{ name, v string }{{"id", a.ID}, {"accountId", a.AccountID}, {"providerId", a.ProviderID}, {"userId", a.UserID}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s is empty", f.name))
		}
	}
	a.AccessToken, _ = text(r.val["accessToken"])
	a.RefreshToken, _ = text(r.val["refreshToken"])
	a.IDToken, _ = text(r.val["idToken"])
	a.Scope, _ = text(r.val["scope"])
	a.Password, _ = text(r.val["password"])
	var err error
	if a.AccessTokenExpiresAt, err = momentPtr(r.val["accessTokenExpiresAt"]); err != nil {
		errs = append(errs, fmt.Errorf("accessTokenExpiresAt: %w", err))
	}
	if a.RefreshTokenExpiresAt, err = momentPtr(r.val["refreshTokenExpiresAt"]); err != nil {
		errs = append(errs, fmt.Errorf("refreshTokenExpiresAt: %w", err))
	}
	if a.CreatedAt, _, err = moment(r.val["createdAt"]); err != nil {
		errs = append(errs, fmt.Errorf("createdAt: %w", err))
	}
	if a.UpdatedAt, _, err = moment(r.val["updatedAt"]); err != nil {
		errs = append(errs, fmt.Errorf("updatedAt: %w", err))
	}
	return a, errors.Join(errs...)
}

// toVerification converts a verification row.
func toVerification(r sourceRow) (store.Verification, error) {
	var errs []error
	v := store.Verification{ID: r.id}
	v.Identifier, _ = text(r.val["identifier"])
	v.Value, _ = text(r.val["value"])
	if v.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if v.Identifier == "" {
		errs = append(errs, errors.New("identifier is empty"))
	}
	var (
		ok  bool
		err error
	)
	if v.ExpiresAt, ok, err = moment(r.val["expiresAt"]); err != nil {
		errs = append(errs, fmt.Errorf("expiresAt: %w", err))
	} else if !ok {
		errs = append(errs, errors.New("expiresAt is empty"))
	}
	if v.CreatedAt, _, err = moment(r.val["createdAt"]); err != nil {
		errs = append(errs, fmt.Errorf("createdAt: %w", err))
	}
	if v.UpdatedAt, _, err = moment(r.val["updatedAt"]); err != nil {
		errs = append(errs, fmt.Errorf("updatedAt: %w", err))
	}
	return v, errors.Join(errs...)
}
