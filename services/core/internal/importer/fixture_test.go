package importer_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/importer"
	"github.com/authbus/authbus/services/core/internal/password"
	"github.com/authbus/authbus/services/core/internal/store"
)

// A database written by the real better-auth server is imported into
// either store; every user then signs in with the password they signed up
// with, and a second import changes nothing.
func TestImportRealBetterAuth(t *testing.T) {
	hasher := password.NewHasher(2)
	t.Cleanup(func() { require.NoError(t, hasher.Close()) })
	users := fixtureUsers(t)

	// What the fixtures hold (README.md in testdata/better-auth).
	sources := []struct {
		name     string
		url      func(t testing.TB) string
		sessions int
		ids      map[string]string // email → id
		created  time.Time         // alice's createdAt
		admin    bool              // made with the admin plugin: dave an admin, carol banned
		reset    string            // carol's reset-password verification identifier
	}{
		{
			name: "from-postgres",
			url: func(t testing.TB) string {
				return postgresDB(t, readFile(t, filepath.Join(fixtureDir, "postgres.sql")))
			},
			sessions: 4,
			ids: map[string]string{
				"alice@example.com": "XC1ExXjStFjfers8PLkmLJkOKXZY48tD", "bob.mixed@example.com": "zOvzFyDLSBoYVnZkYO38YOidIVNvsRxl",
				"carol@example.com": "yJ2NrENmFiSKsGJuelcz6xwtgiwhGRQW", "dave@example.com": "BSAtzy2IWwQpCvAOapzjlWeXeLde6Nvz",
			},
			created: time.Date(2026, 11, 22, 4, 30, 27, 880_000_000, time.UTC),
			reset:   "reset-password:nrVm5j8QMrAvLlFFwCi08byt",
		},
		{
			name: "from-sqlite",
			url: func(t testing.TB) string {
				return "sqlite:" + sqliteDB(t, readFile(t, filepath.Join(fixtureDir, "sqlite.sql")))
			},
			sessions: 4,
			ids: map[string]string{
				"alice@example.com": "KukV2k9zcpM2qcTVcX3Pfv3JLcrbIZPd", "bob.mixed@example.com": "bg6I3RbjcX1HG2Pyb2yCfh85dOCK6PuL",
				"carol@example.com": "KSEnWrGyJD1mW0Q3KftRGnvu4C5zvmn7", "dave@example.com": "fxAynx4soVMkzDfOasJV3mhB9gaVZkfo",
			},
			created: time.Date(2026, 11, 22, 4, 30, 29, 445_000_000, time.UTC),
			admin:   true,
			reset:   "reset-password:UgdHammpVSWIZc7KNDXGimEW",
		},
	}
	for _, src := range sources {
		for _, dst := range destinations {
			t.Run(src.name+"/"+dst.name, func(t *testing.T) {
				ctx := testCtx(t)
				st := openStore(t, dst.url(t))
				rep, err := importer.Import(ctx, openSource(t, src.url(t)), st, importer.Options{})
				require.NoError(t, err)
				carolReset, err := st.VerificationByIdentifier(ctx, src.reset)
				require.NoError(t, err)
				expired := 0
				if !carolReset.ExpiresAt.After(time.Now()) {
					expired = 1
				}
				require.Equal(t, importer.Report{
					Users:                importer.Counts{Read: 4, Imported: 4},
					Accounts:             importer.Counts{Read: 4, Imported: 4},
					Verifications:        importer.Counts{Read: 1, Imported: 1},
					ExpiredVerifications: expired,
					Events:               4,
					SessionsNotCarried:   src.sessions,
				}, rep)
				require.Equal(t, src.ids["carol@example.com"], carolReset.Value)

				for _, fu := range users {
					email := strings.ToLower(fu.Email)
					u, acc, err := st.UserWithCredential(ctx, email)
					require.NoError(t, err, email)
					require.Equal(t, src.ids[email], u.ID)
					require.Equal(t, fu.Name, u.Name)
					require.NotNil(t, acc, "%s has a credential account", email)
					require.Equal(t, u.ID, acc.AccountID)
					ok, err := hasher.Verify(ctx, acc.Password, fu.Password)
					require.NoError(t, err)
					require.True(t, ok, "%s signs in with the password they signed up with", email)
					ok, err = hasher.Verify(ctx, acc.Password, fu.Password+"x")
					require.NoError(t, err)
					require.False(t, ok)

					wantRole, wantBanned := store.RoleUser, false
					if src.admin && email == "dave@example.com" {
						wantRole = store.RoleAdmin
					}
					if src.admin && email == "carol@example.com" {
						wantBanned = true
						require.Equal(t, ptr("spam"), u.BanReason)
						require.NotNil(t, u.BanExpires)
						require.True(t, u.BanExpires.After(time.Date(2070, 1, 1, 0, 0, 0, 0, time.UTC)))
					}
					require.Equal(t, wantRole, u.Role, email)
					require.Equal(t, wantBanned, u.Banned, email)
				}
				alice, err := st.UserByEmail(ctx, "alice@example.com")
				require.NoError(t, err)
				require.Equal(t, src.created, alice.CreatedAt, "times are kept")

				events := outboxEvents(t, st)
				require.Len(t, events, 4)
				seen := map[string]bool{}
				for _, e := range events {
					require.Equal(t, contracts.EventUserCreated, e.Type)
					require.Equal(t, importer.DefaultEventSource, e.Source)
					var data contracts.UserCreated
					require.NoError(t, e.DecodeData(&data))
					require.Equal(t, importer.MethodImport, data.Method)
					require.Equal(t, e.Subject, data.User.ID)
					require.Equal(t, src.ids[data.User.Email], data.User.ID)
					seen[data.User.Email] = true
				}
				require.Len(t, seen, 4)

				again, err := importer.Import(ctx, openSource(t, src.url(t)), st, importer.Options{})
				require.NoError(t, err)
				require.Equal(t, importer.Report{
					Users:              importer.Counts{Read: 4, Present: 4},
					Accounts:           importer.Counts{Read: 4, Present: 4},
					Verifications:      importer.Counts{Read: 1, Present: 1},
					SessionsNotCarried: src.sessions,
				}, again, "idempotent")
				require.Len(t, outboxEvents(t, st), 4, "no new events")
			})
		}
	}
}

// The better-auth Postgres tables may live in the same database as the
// core's (schema public next to schema core): importing in place works.
func TestImportInPlace(t *testing.T) {
	url := postgresDB(t, readFile(t, filepath.Join(fixtureDir, "postgres.sql")))
	st := openStore(t, url)
	rep, err := importer.Import(testCtx(t), openSource(t, url), st, importer.Options{})
	require.NoError(t, err)
	require.Equal(t, 4, rep.Users.Imported)
	require.Equal(t, 4, rep.Accounts.Imported)
	page, err := st.ListUsers(testCtx(t), store.ListUsersOptions{})
	require.NoError(t, err)
	require.Equal(t, 4, page.Total)
}

// A dry run reports what an import would do and writes nothing.
func TestImportDryRun(t *testing.T) {
	for _, dst := range destinations {
		t.Run(dst.name, func(t *testing.T) {
			ctx := testCtx(t)
			src := openSource(t, "sqlite:"+sqliteDB(t, readFile(t, filepath.Join(fixtureDir, "sqlite.sql"))))
			st := openStore(t, dst.url(t))
			dry, err := importer.Import(ctx, src, st, importer.Options{DryRun: true, BatchSize: 3})
			require.NoError(t, err)
			require.True(t, dry.DryRun)
			page, err := st.ListUsers(ctx, store.ListUsersOptions{})
			require.NoError(t, err)
			require.Zero(t, page.Total, "nothing written")
			require.Empty(t, outboxEvents(t, st))

			real, err := importer.Import(ctx, src, st, importer.Options{BatchSize: 3})
			require.NoError(t, err)
			dry.DryRun = false
			require.Equal(t, real, dry, "the dry run predicted the import")
		})
	}
}
