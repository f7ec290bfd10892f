// Package importer copies users, accounts (credentials) and verification
// tokens from a better-auth database into the core's store, so that an
// application moving from better-auth to authbus keeps its users: the
// password hashes are in the same format (scrypt "salt:key"), so they sign
// in with their old passwords. Sessions are not carried: users sign in once
// more.
//
// Rows keep their ids and times. Emails are lower-cased; NULLs where the
// store has defaults get them (role "user", banned false, name ""). A user
// whose email already belongs to another user of the store (or to an
// earlier user of the source, once lower-cased), or an account whose
// (providerId, accountId) is already linked, is reported, not imported.
// Rows already imported (same id) are left as they are, so running the
// import again imports only what is new. Each imported user gets a
// user.created event (method "import") written through the outbox in the
// same transaction; the core's relay publishes it.
package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/store"
)

// DefaultEventSource is the CloudEvents source of the user.created events.
const DefaultEventSource = "authbus/core"

// MethodImport is UserCreated.Method of an imported user.
const MethodImport = "import"

// Options tune Import; the zero value imports for real.
type Options struct {
	// DryRun reads and checks everything in transactions that are rolled
	// back: the report says what an import would do. Default false.
	DryRun bool
	// BatchSize is how many users one transaction imports, with their
	// accounts and events. Default 100, at most 500.
	BatchSize int
	// EventSource is the source of the user.created events. Default "authbus/core".
	EventSource string
	// MaxIssues caps Report.Issues; the rest are only counted. Default 1000.
	MaxIssues int
	// Logger receives progress. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	o.BatchSize = min(o.BatchSize, 500)
	if o.EventSource == "" {
		o.EventSource = DefaultEventSource
	}
	if o.MaxIssues <= 0 {
		o.MaxIssues = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Counts are the fate of the rows of one table.
type Counts struct {
	// Read is how many rows of the source were considered.
	Read int
	// Imported were written (on a dry run: would be).
	Imported int
	// Present were already in the store with the same id (an earlier import).
	Present int
	// Duplicates clash with another row of the store or of the source (see Issues).
	Duplicates int
	// Skipped could not be imported: unreadable rows, or accounts of users not imported.
	Skipped int
}

// Issue is a row that was not imported, and why.
type Issue struct {
	// Table is "user", "account" or "verification".
	Table string
	// ID is the row's id in the source.
	ID string
	// Duplicate is true for a clash with another row, false for a row that cannot be read.
	Duplicate bool
	// Reason says what is wrong.
	Reason string
}

// Report says what Import did.
type Report struct {
	// DryRun is true when nothing was written.
	DryRun bool
	// Users, Accounts and Verifications count the rows of each table.
	Users, Accounts, Verifications Counts
	// ExpiredVerifications is how many imported verifications had already expired.
	ExpiredVerifications int
	// Events is how many user.created events were written to the outbox.
	Events int
	// SessionsNotCarried is how many sessions the source has: they are not imported.
	SessionsNotCarried int
	// Issues lists rows not imported (at most Options.MaxIssues).
	Issues []Issue
	// IssuesDropped counts the issues beyond Options.MaxIssues.
	IssuesDropped int
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("dry run")

// conflictError rolls back a batch whose write found a row taken after the
// checks passed (a unique value the store could not be asked about, or a
// concurrent writer): the batch is retried without that row.
type conflictError struct {
	table, id string
	err       error
}

func (e *conflictError) Error() string { return fmt.Sprintf("%s %s: %v", e.table, e.id, e.err) }

// Import copies src into dst as the package documentation says and
// returns what it did. An error from either database stops it; batches
// already committed stay (running it again continues where it stopped).
func Import(ctx context.Context, src *Source, dst store.Store, opts Options) (Report, error) {
	opts = opts.withDefaults()
	im := &run{
		src: src, dst: dst, opts: opts,
		rep:         Report{DryRun: opts.DryRun},
		emails:      map[string]string{},
		accountKeys: map[string]string{},
		identifiers: map[string]bool{},
	}
	n, err := src.count(ctx, "session")
	if err != nil {
		return im.rep, err
	}
	im.rep.SessionsNotCarried = n
	if err := im.users(ctx); err != nil {
		return im.rep, err
	}
	if err := im.verifications(ctx); err != nil {
		return im.rep, err
	}
	opts.Logger.Info("import: done", "dryRun", opts.DryRun, "users", im.rep.Users.Imported,
		"accounts", im.rep.Accounts.Imported, "verifications", im.rep.Verifications.Imported)
	return im.rep, nil
}

// run is one Import.
type run struct {
	src  *Source
	dst  store.Store
	opts Options
	rep  Report

	// What this run imported (committed, or planned on a dry run), to find
	// duplicates within the source: lower-cased email → user id,
	// provider+accountId → account id, verification identifier → imported.
	emails      map[string]string
	accountKeys map[string]string
	identifiers map[string]bool
}

// batch is what one transaction did; it counts only once committed.
type batch struct {
	users, accounts, verifications Counts
	expired, events                int
	issues                         []Issue
	emails, accountKeys            map[string]string
	identifiers                    map[string]bool
}

func newBatch() *batch {
	return &batch{emails: map[string]string{}, accountKeys: map[string]string{}, identifiers: map[string]bool{}}
}

func (b *batch) issue(table, id string, duplicate bool, format string, args ...any) {
	b.issues = append(b.issues, Issue{Table: table, ID: id, Duplicate: duplicate, Reason: fmt.Sprintf(format, args...)})
}

// commit adds b to the report.
func (im *run) commit(b *batch) {
	add := func(dst *Counts, c Counts) {
		dst.Read += c.Read
		dst.Imported += c.Imported
		dst.Present += c.Present
		dst.Duplicates += c.Duplicates
		dst.Skipped += c.Skipped
	}
	add(&im.rep.Users, b.users)
	add(&im.rep.Accounts, b.accounts)
	add(&im.rep.Verifications, b.verifications)
	im.rep.ExpiredVerifications += b.expired
	im.rep.Events += b.events
	for _, is := range b.issues {
		if len(im.rep.Issues) < im.opts.MaxIssues {
			im.rep.Issues = append(im.rep.Issues, is)
		} else {
			im.rep.IssuesDropped++
		}
	}
	for k, v := range b.emails {
		im.emails[k] = v
	}
	for k, v := range b.accountKeys {
		im.accountKeys[k] = v
	}
	for k, v := range b.identifiers {
		im.identifiers[k] = v
	}
}

// inTx runs fn in a transaction (rolled back on a dry run) and retries it
// without the rows that turned out to conflict, which skip collects.
func (im *run) inTx(ctx context.Context, fn func(tx store.Tx, b *batch, skip map[string]error) error) error {
	skip := map[string]error{}
	for {
		b := newBatch()
		err := im.dst.InTx(ctx, func(tx store.Tx) error {
			if err := fn(tx, b, skip); err != nil {
				return err
			}
			if im.opts.DryRun {
				return errDryRun
			}
			return nil
		})
		var conflict *conflictError
		switch {
		case err == nil || errors.Is(err, errDryRun):
			im.commit(b)
			return nil
		case errors.As(err, &conflict) && skip[conflict.table+"\x00"+conflict.id] == nil:
			skip[conflict.table+"\x00"+conflict.id] = conflict.err
		default:
			return fmt.Errorf("import: %w", err)
		}
	}
}

// users imports the users page by page, each page in one transaction.
func (im *run) users(ctx context.Context) error {
	after := ""
	for {
		page, err := im.src.page(ctx, "user", after, im.opts.BatchSize)
		if err != nil || len(page) == 0 {
			return err
		}
		after = page[len(page)-1].id
		ids := make([]string, len(page))
		for i, r := range page {
			ids[i] = r.id
		}
		accRows, err := im.src.accountsOf(ctx, ids)
		if err != nil {
			return err
		}
		accounts := map[string][]sourceRow{}
		for _, a := range accRows {
			uid, _ := text(a.val["userId"])
			accounts[uid] = append(accounts[uid], a)
		}
		if err := im.inTx(ctx, func(tx store.Tx, b *batch, skip map[string]error) error {
			return im.userBatch(ctx, tx, b, skip, page, accounts)
		}); err != nil {
			return err
		}
		im.opts.Logger.Debug("import: users", "read", im.rep.Users.Read, "imported", im.rep.Users.Imported)
	}
}

func (im *run) userBatch(ctx context.Context, tx store.Tx, b *batch, skip map[string]error, page []sourceRow, accounts map[string][]sourceRow) error {
	var events []contracts.Envelope
	for _, row := range page {
		b.users.Read++
		accs := accounts[row.id]
		b.accounts.Read += len(accs)
		notImported := func() { b.accounts.Skipped += len(accs) }
		u, err := toUser(row)
		if err != nil {
			b.users.Skipped++
			b.issue("user", row.id, false, "cannot read the row: %v", err)
			notImported()
			continue
		}
		if err := skip["user\x00"+u.ID]; err != nil {
			b.users.Duplicates++
			b.issue("user", u.ID, true, "email %s or id already taken in the store: %v", u.Email, err)
			notImported()
			continue
		}
		existing, err := tx.UserByID(ctx, u.ID)
		switch {
		case err == nil:
			b.users.Present++
			if err := im.accountsOfUser(ctx, tx, b, skip, existing.ID, accs, true); err != nil {
				return err
			}
			continue
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		// Checked first so that a dry run (which does not see its own
		// rolled-back writes) reports the same reason.
		if first, ok := im.seenEmail(b, u.Email); ok {
			b.users.Duplicates++
			b.issue("user", u.ID, true, "email %s is also the email of source user %s (emails are compared lower-cased)", u.Email, first)
			notImported()
			continue
		}
		if other, err := tx.UserByEmail(ctx, u.Email); err == nil {
			b.users.Duplicates++
			b.issue("user", u.ID, true, "email %s already belongs to user %s in the store", u.Email, other.ID)
			notImported()
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		created, err := tx.CreateUser(ctx, u)
		if errors.Is(err, store.ErrConflict) {
			return &conflictError{table: "user", id: u.ID, err: err}
		}
		if err != nil {
			return fmt.Errorf("user %s: %w", u.ID, err)
		}
		b.users.Imported++
		b.emails[created.Email] = created.ID
		env, err := contracts.NewEnvelope(im.opts.EventSource, contracts.EventUserCreated, created.ID,
			contracts.UserCreated{User: created.Public(), Method: MethodImport})
		if err != nil {
			return err
		}
		events = append(events, env)
		if err := im.accountsOfUser(ctx, tx, b, skip, created.ID, accs, false); err != nil {
			return err
		}
	}
	if len(events) > 0 {
		if err := tx.AppendOutbox(ctx, events...); err != nil {
			return err
		}
		b.events += len(events)
	}
	return nil
}

// accountsOfUser imports the accounts of a user the store holds (present:
// imported before, whose accounts may be too).
func (im *run) accountsOfUser(ctx context.Context, tx store.Tx, b *batch, skip map[string]error, userID string, rows []sourceRow, present bool) error {
	have := map[string]bool{}
	if present && len(rows) > 0 {
		existing, err := tx.AccountsOfUser(ctx, userID)
		if err != nil {
			return err
		}
		for _, a := range existing {
			have[a.ID] = true
			have[accountKey(a)] = true
		}
	}
	for _, row := range rows {
		a, err := toAccount(row)
		if err != nil {
			b.accounts.Skipped++
			b.issue("account", row.id, false, "cannot read the row: %v", err)
			continue
		}
		key := accountKey(a)
		switch {
		case have[a.ID] || have[key]:
			b.accounts.Present++
			continue
		case skip["account\x00"+a.ID] != nil:
			b.accounts.Duplicates++
			b.issue("account", a.ID, true, "provider %s account %s (or this id) is already linked to another user in the store", a.ProviderID, a.AccountID)
			continue
		}
		if first, ok := im.seenAccount(b, key); ok {
			b.accounts.Duplicates++
			b.issue("account", a.ID, true, "provider %s account %s is also source account %s", a.ProviderID, a.AccountID, first)
			continue
		}
		if _, err := tx.CreateAccount(ctx, a); errors.Is(err, store.ErrConflict) {
			return &conflictError{table: "account", id: a.ID, err: err}
		} else if err != nil {
			return fmt.Errorf("account %s: %w", a.ID, err)
		}
		b.accounts.Imported++
		b.accountKeys[key] = a.ID
	}
	return nil
}

// verifications imports the verification rows. A token whose identifier
// the store already has is left alone: an earlier import or the core made it.
func (im *run) verifications(ctx context.Context) error {
	after := ""
	now := time.Now()
	for {
		page, err := im.src.page(ctx, "verification", after, im.opts.BatchSize)
		if err != nil || len(page) == 0 {
			return err
		}
		after = page[len(page)-1].id
		if err := im.inTx(ctx, func(tx store.Tx, b *batch, skip map[string]error) error {
			for _, row := range page {
				b.verifications.Read++
				v, err := toVerification(row)
				if err != nil {
					b.verifications.Skipped++
					b.issue("verification", row.id, false, "cannot read the row: %v", err)
					continue
				}
				if skip["verification\x00"+v.ID] != nil {
					b.verifications.Duplicates++
					b.issue("verification", v.ID, true, "its id is already taken in the store")
					continue
				}
				imported, decided := b.identifiers[v.Identifier]
				if !decided {
					imported, decided = im.identifiers[v.Identifier]
				}
				if !decided {
					_, err := tx.VerificationByIdentifier(ctx, v.Identifier)
					switch {
					case err == nil:
						imported = false
					case errors.Is(err, store.ErrNotFound):
						imported = true
					default:
						return err
					}
					b.identifiers[v.Identifier] = imported
				}
				if !imported {
					b.verifications.Present++
					continue
				}
				if _, err := tx.CreateVerification(ctx, v); errors.Is(err, store.ErrConflict) {
					return &conflictError{table: "verification", id: v.ID, err: err}
				} else if err != nil {
					return fmt.Errorf("verification %s: %w", v.ID, err)
				}
				b.verifications.Imported++
				if !v.ExpiresAt.After(now) {
					b.expired++
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
}

// seenEmail reports the source user already imported by this run with that email.
func (im *run) seenEmail(b *batch, email string) (string, bool) {
	if id, ok := b.emails[email]; ok {
		return id, true
	}
	id, ok := im.emails[email]
	return id, ok
}

// seenAccount reports the source account already imported by this run with that key.
func (im *run) seenAccount(b *batch, key string) (string, bool) {
	if id, ok := b.accountKeys[key]; ok {
		return id, true
	}
	id, ok := im.accountKeys[key]
	return id, ok
}

// accountKey is what the store keeps unique among accounts.
func accountKey(a store.Account) string { return a.ProviderID + "\x00" + a.AccountID }
