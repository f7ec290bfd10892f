package importer_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/services/core/internal/importer"
	"github.com/authbus/authbus/services/core/internal/store"
)

// The same awkward better-auth data on each source backend: NULLs where the
// store has defaults, mixed-case and duplicate emails, an account already
// linked in the store, unreadable rows, dates in several forms.
const sqliteSource = `
CREATE TABLE "user" ("id" text primary key, "name" text, "email" text, "emailVerified" integer, "image" text,
  "createdAt" date, "updatedAt" date, "role" text, "banned" integer, "banReason" text, "banExpires" date);
CREATE TABLE "account" ("id" text primary key, "accountId" text, "providerId" text, "userId" text, "accessToken" text,
  "refreshToken" text, "idToken" text, "accessTokenExpiresAt" date, "refreshTokenExpiresAt" date, "scope" text,
  "password" text, "createdAt" date, "updatedAt" date);
CREATE TABLE "verification" ("id" text primary key, "identifier" text, "value" text, "expiresAt" date, "createdAt" date, "updatedAt" date);
CREATE TABLE "session" ("id" text primary key, "token" text, "userId" text);
INSERT INTO "session" VALUES ('s1', 't1', 'u01'), ('s2', 't2', 'u05');
INSERT INTO "user" VALUES
  ('u01', NULL, 'Erin@Example.COM', NULL, NULL, 1767236645000, NULL, NULL, NULL, NULL, NULL),
  ('u02', 'Erin Two', 'ERIN@example.com', 1, NULL, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'user', 0, NULL, NULL),
  ('u03', 'Frank', 'frank@example.com', 1, NULL, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'user', 0, NULL, NULL),
  ('u04', 'Nobody', '', 0, NULL, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'user', 0, NULL, NULL),
  ('u05', 'Grace', 'grace@example.com', 1, 'https://img.example/g.png', '2026-01-02 03:04:05', '2026-01-03T04:05:06.789Z', 'admin', 1, 'spam', '2030-01-01T00:00:00.000Z'),
  ('u06', 'Heidi', 'heidi@example.com', 0, NULL, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '', 0, NULL, NULL),
  ('u07', 'Ivan', 'ivan@example.com', 0, NULL, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'user', 0, NULL, NULL),
  ('u08', 'Judy', 'judy@example.com', 0, NULL, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'user', 0, NULL, NULL),
  ('u09', 'Mallory', 'mallory@example.com', 0, NULL, 'not a date', NULL, 'user', 0, NULL, NULL);
INSERT INTO "account" VALUES
  ('a01', 'u01', 'credential', 'u01', NULL, NULL, NULL, NULL, NULL, NULL, 'aa:bb', 1767236645000, 1767236645000),
  ('a02', 'u02', 'credential', 'u02', NULL, NULL, NULL, NULL, NULL, NULL, 'aa:bb', NULL, NULL),
  ('a03', 'u03', 'credential', 'u03', NULL, NULL, NULL, NULL, NULL, NULL, 'aa:bb', NULL, NULL),
  ('a06a', 'u06', 'credential', 'u06', NULL, NULL, NULL, NULL, NULL, NULL, 'aa:bb', NULL, NULL),
  ('a06b', '12345', 'google', 'u06', 'at', 'rt', 'it', '2026-02-01T00:00:00.000Z', NULL, 'openid email', NULL, NULL, NULL),
  ('a07', '777', 'google', 'u07', 'at7', NULL, NULL, '2026-02-01T00:00:00.000Z', NULL, 'openid', NULL, NULL, NULL),
  ('a08', '777', 'google', 'u08', 'at8', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('a10', '', 'github', 'u05', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO "verification" VALUES
  ('v1', 'reset-password:tok1', 'u01', '2099-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'),
  ('v2', 'existing-ident', 'x', '2099-01-01T00:00:00.000Z', NULL, NULL),
  ('v3', '', 'x', '2099-01-01T00:00:00.000Z', NULL, NULL),
  ('v4a', 'multi', 'one', '2020-01-01T00:00:00.000Z', NULL, NULL),
  ('v4b', 'multi', 'two', '2099-01-01T00:00:00.000Z', NULL, NULL);
`

const postgresSource = `
CREATE TABLE "user" ("id" text primary key, "name" text, "email" text, "emailVerified" boolean, "image" text,
  "createdAt" timestamptz, "updatedAt" timestamptz, "role" text, "banned" boolean, "banReason" text, "banExpires" timestamptz);
CREATE TABLE "account" ("id" text primary key, "accountId" text, "providerId" text, "userId" text, "accessToken" text,
  "refreshToken" text, "idToken" text, "accessTokenExpiresAt" timestamptz, "refreshTokenExpiresAt" timestamptz, "scope" text,
  "password" text, "createdAt" timestamptz, "updatedAt" timestamptz);
CREATE TABLE "verification" ("id" text primary key, "identifier" text, "value" text, "expiresAt" timestamptz, "createdAt" timestamptz, "updatedAt" timestamptz);
CREATE TABLE "session" ("id" text primary key, "token" text, "userId" text);
INSERT INTO "session" VALUES ('s1', 't1', 'u01'), ('s2', 't2', 'u05');
INSERT INTO "user" VALUES
  ('u01', NULL, 'Erin@Example.COM', NULL, NULL, '2026-01-01 03:04:05+00', NULL, NULL, NULL, NULL, NULL),
  ('u02', 'Erin Two', 'ERIN@example.com', true, NULL, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', 'user', false, NULL, NULL),
  ('u03', 'Frank', 'frank@example.com', true, NULL, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', 'user', false, NULL, NULL),
  ('u04', 'Nobody', '', false, NULL, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', 'user', false, NULL, NULL),
  ('u05', 'Grace', 'grace@example.com', true, 'https://img.example/g.png', '2026-01-02 03:04:05+00', '2026-01-03 04:05:06.789+00', 'admin', true, 'spam', '2030-01-01 00:00:00+00'),
  ('u06', 'Heidi', 'heidi@example.com', false, NULL, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', '', false, NULL, NULL),
  ('u07', 'Ivan', 'ivan@example.com', false, NULL, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', 'user', false, NULL, NULL),
  ('u08', 'Judy', 'judy@example.com', false, NULL, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', 'user', false, NULL, NULL),
  ('u09', 'Mallory', 'mallory@example.com', NULL, NULL, NULL, NULL, 'user', false, NULL, NULL);
INSERT INTO "account" VALUES
  ('a01', 'u01', 'credential', 'u01', NULL, NULL, NULL, NULL, NULL, NULL, 'aa:bb', '2026-01-01 03:04:05+00', '2026-01-01 03:04:05+00'),
  ('a02', 'u02', 'credential', 'u02', NULL, NULL, NULL, NULL, NULL, NULL, 'aa:bb', NULL, NULL),
  ('a03', 'u03', 'credential', 'u03', NULL, NULL, NULL, NULL, NULL, NULL, 'aa:bb', NULL, NULL),
  ('a06a', 'u06', 'credential', 'u06', NULL, NULL, NULL, NULL, NULL, NULL, 'aa:bb', NULL, NULL),
  ('a06b', '12345', 'google', 'u06', 'at', 'rt', 'it', '2026-02-01 00:00:00+00', NULL, 'openid email', NULL, NULL, NULL),
  ('a07', '777', 'google', 'u07', 'at7', NULL, NULL, '2026-02-01 00:00:00+00', NULL, 'openid', NULL, NULL, NULL),
  ('a08', '777', 'google', 'u08', 'at8', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('a10', '', 'github', 'u05', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO "verification" VALUES
  ('v1', 'reset-password:tok1', 'u01', '2099-01-01 00:00:00+00', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00'),
  ('v2', 'existing-ident', 'x', '2099-01-01 00:00:00+00', NULL, NULL),
  ('v3', '', 'x', '2099-01-01 00:00:00+00', NULL, NULL),
  ('v4a', 'multi', 'one', '2020-01-01 00:00:00+00', NULL, NULL),
  ('v4b', 'multi', 'two', '2099-01-01 00:00:00+00', NULL, NULL);
`

// seed puts into the store what the source clashes with: frank (by email)
// with a Google account 12345, and a verification "existing-ident".
func seed(t *testing.T, st store.Store) {
	ctx := testCtx(t)
	require.NoError(t, st.InTx(ctx, func(tx store.Tx) error {
		u, err := tx.CreateUser(ctx, store.User{ID: "existingfrank", Name: "Frank", Email: "Frank@Example.com"})
		if err != nil {
			return err
		}
		if _, err := tx.CreateAccount(ctx, store.Account{AccountID: "12345", ProviderID: "google", UserID: u.ID}); err != nil {
			return err
		}
		_, err = tx.CreateVerification(ctx, store.Verification{Identifier: "existing-ident", Value: "kept", ExpiresAt: time.Now().Add(time.Hour)})
		return err
	}))
}

type issueKey struct {
	Table, ID string
	Duplicate bool
}

func issueKeys(issues []importer.Issue) []issueKey {
	out := make([]issueKey, len(issues))
	for i, is := range issues {
		out[i] = issueKey{is.Table, is.ID, is.Duplicate}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Table+out[i].ID < out[j].Table+out[j].ID })
	return out
}

func TestImportDuplicatesDefaultsAndBadRows(t *testing.T) {
	// mallory's createdAt is "not a date" in SQLite (unreadable: skipped),
	// NULL in Postgres (a typed column: imported, created now).
	sources := []struct {
		name    string
		url     func(t testing.TB) string
		mallory bool
	}{
		{"from-sqlite", func(t testing.TB) string { return "sqlite:" + sqliteDB(t, sqliteSource) }, false},
		{"from-postgres", func(t testing.TB) string { return postgresDB(t, postgresSource) }, true},
	}
	for _, src := range sources {
		for _, dst := range destinations {
			t.Run(src.name+"/"+dst.name, func(t *testing.T) {
				ctx := testCtx(t)
				st := openStore(t, dst.url(t))
				seed(t, st)
				source := openSource(t, src.url(t))
				// Small batches: conflicts roll back and retry a batch, and
				// duplicates span batches.
				rep, err := importer.Import(ctx, source, st, importer.Options{BatchSize: 2})
				require.NoError(t, err)
				users, wantIssues := importer.Counts{Read: 9, Imported: 5, Duplicates: 2, Skipped: 2}, []issueKey{
					{"account", "a06b", true}, {"account", "a08", true}, {"account", "a10", false},
					{"user", "u02", true}, {"user", "u03", true}, {"user", "u04", false}, {"user", "u09", false},
					{"verification", "v3", false},
				}
				if src.mallory {
					users.Imported, users.Skipped = 6, 1
					wantIssues = append(wantIssues[:6], wantIssues[7])
				}
				require.Equal(t, users, rep.Users)
				require.Equal(t, importer.Counts{Read: 8, Imported: 3, Duplicates: 2, Skipped: 3}, rep.Accounts)
				require.Equal(t, importer.Counts{Read: 5, Imported: 3, Present: 1, Skipped: 1}, rep.Verifications)
				require.Equal(t, 1, rep.ExpiredVerifications)
				require.Equal(t, users.Imported, rep.Events)
				require.Equal(t, 2, rep.SessionsNotCarried)
				require.Equal(t, wantIssues, issueKeys(rep.Issues))
				reasons := map[string]string{}
				for _, is := range rep.Issues {
					reasons[is.ID] = is.Reason
				}
				require.Contains(t, reasons["u02"], "erin@example.com is also the email of source user u01")
				require.Contains(t, reasons["u03"], "already belongs to user existingfrank")
				require.Contains(t, reasons["u04"], "email is empty")
				require.Contains(t, reasons["a06b"], "provider google account 12345")
				require.Contains(t, reasons["a08"], "also source account a07")

				erin, err := st.UserByID(ctx, "u01")
				require.NoError(t, err)
				require.Equal(t, store.User{
					ID: "u01", Email: "erin@example.com", Role: store.RoleUser,
					CreatedAt: time.Date(2026, 1, 1, 3, 4, 5, 0, time.UTC), UpdatedAt: time.Date(2026, 1, 1, 3, 4, 5, 0, time.UTC),
				}, erin, "NULLs take the store's defaults; updatedAt defaults to createdAt")
				grace, err := st.UserByID(ctx, "u05")
				require.NoError(t, err)
				require.Equal(t, store.User{
					ID: "u05", Name: "Grace", Email: "grace@example.com", EmailVerified: true, Image: ptr("https://img.example/g.png"),
					Role: store.RoleAdmin, Banned: true, BanReason: ptr("spam"), BanExpires: ptr(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
					CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), UpdatedAt: time.Date(2026, 1, 3, 4, 5, 6, 789_000_000, time.UTC),
				}, grace)
				heidi, err := st.UserByID(ctx, "u06")
				require.NoError(t, err)
				require.Equal(t, store.RoleUser, heidi.Role, "an empty role is the default")
				accs, err := st.AccountsOfUser(ctx, "u06")
				require.NoError(t, err)
				require.Len(t, accs, 1, "heidi keeps her password, not the Google account frank has")
				require.Equal(t, "credential", accs[0].ProviderID)
				ivan, err := st.AccountsOfUser(ctx, "u07")
				require.NoError(t, err)
				require.Len(t, ivan, 1)
				require.Equal(t, store.Account{
					ID: "a07", AccountID: "777", ProviderID: "google", UserID: "u07", AccessToken: "at7", Scope: "openid",
					AccessTokenExpiresAt: ptr(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)),
					CreatedAt:            ivan[0].CreatedAt, UpdatedAt: ivan[0].CreatedAt,
				}, ivan[0])
				mallory, err := st.UserByEmail(ctx, "mallory@example.com")
				if src.mallory {
					require.NoError(t, err)
					require.WithinDuration(t, time.Now(), mallory.CreatedAt, time.Minute, "a NULL createdAt is now")
				} else {
					require.ErrorIs(t, err, store.ErrNotFound)
					require.Contains(t, reasons["u09"], `createdAt: "not a date" is not a date`)
				}
				kept, err := st.VerificationByIdentifier(ctx, "existing-ident")
				require.NoError(t, err)
				require.Equal(t, "kept", kept.Value)
				multi, err := st.VerificationByIdentifier(ctx, "multi")
				require.NoError(t, err)
				require.Equal(t, "two", multi.Value)

				again, err := importer.Import(ctx, source, st, importer.Options{BatchSize: 2})
				require.NoError(t, err)
				require.Equal(t, importer.Counts{Read: 9, Present: users.Imported, Duplicates: 2, Skipped: users.Skipped}, again.Users)
				require.Equal(t, importer.Counts{Read: 8, Present: 3, Duplicates: 2, Skipped: 3}, again.Accounts)
				require.Equal(t, importer.Counts{Read: 5, Present: 4, Skipped: 1}, again.Verifications)
				require.Zero(t, again.Events)
				require.Len(t, outboxEvents(t, st), users.Imported)
			})
		}
	}
}

func TestOpenSourceErrors(t *testing.T) {
	notBetterAuth := sqliteDB(t, `CREATE TABLE "user" ("id" text, "name" text); CREATE TABLE "account" ("id" text);`)
	tests := []struct {
		name, url string
		want      []string
	}{
		{"missing file", "sqlite:/nonexistent/better-auth.db", []string{"no such file"}},
		{"memory", ":memory:", []string{"nothing to import"}},
		{"scheme", "mysql://x/y", []string{"unsupported database URL"}},
		{"not better-auth", "sqlite:" + notBetterAuth, []string{
			"not a better-auth database", `table "user" has no column "email"`, `table "account" has no column "providerId"`, `no table "verification"`,
		}},
		{"unreachable postgres", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", []string{"connect to postgres at 127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := importer.OpenSource(testCtx(t), tt.url)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.False(t, strings.Contains(err.Error(), "panic"))
		})
	}
}
