// Package store is the engine's embedded state: discovered tags, analyses, their
// results, the discovery cursor per integration and the delivery state per output.
//
// It is a SQLite database (modernc.org/sqlite, pure Go) in WAL mode with versioned
// migrations. Writes go through a single connection so they are serialised in
// process (no SQLITE_BUSY between our own workers); reads use a small pool of
// read-only connections that WAL lets run beside the writer. A second process is
// kept out by an advisory lock next to the database (OpenReadOnly does not take it).
//
// Times are stored as unix milliseconds in UTC; a zero time.Time is stored as NULL
// and read back as the zero value. Every time the store returns is in UTC.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Analysis statuses.
const (
	StatusPending = "pending" // to do, at or after NextAttempt (retryable failures come back here)
	StatusRunning = "running" // claimed by a worker
	StatusDone    = "done"
	StatusSkipped = "skipped" // not a container image; Reason says why
	StatusFailed  = "failed"  // terminal failure; Error says why
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // terminal
)

// ErrNotFound is returned (wrapped) when a row the call needs does not exist.
var ErrNotFound = errors.New("not found")

// maxErrorLen bounds stored error texts so one pathological message cannot bloat the db.
const maxErrorLen = 4096

// Store is safe for concurrent use.
type Store struct {
	path     string
	w        *sql.DB // single connection: all writes
	r        *sql.DB // read-only pool
	unlock   func() error
	readOnly bool
	now      func() time.Time
	log      hclog.Logger
}

type options struct {
	now         func() time.Time
	logger      hclog.Logger
	busyTimeout time.Duration
	readers     int
}

// Option configures Open.
type Option func(*options)

// WithClock sets the clock used for bookkeeping times (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the logger (a Named("store") sub-logger is used).
func WithLogger(l hclog.Logger) Option { return func(o *options) { o.logger = l } }

// WithBusyTimeout sets how long a connection waits for a lock held by another
// process before failing with SQLITE_BUSY. Default 10s.
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithReaders sets the size of the read-only connection pool. Default 4.
func WithReaders(n int) Option { return func(o *options) { o.readers = n } }

func buildOptions(opts []Option) options {
	o := options{now: time.Now, logger: hclog.NewNullLogger(), busyTimeout: 10 * time.Second, readers: 4}
	for _, opt := range opts {
		opt(&o)
	}
	if o.readers < 1 {
		o.readers = 1
	}
	return o
}

// Open opens (creating it 0600 if needed) the database at path, takes the
// process lock, applies pending migrations and puts analyses left `running` by a
// crashed process back to `pending`.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := buildOptions(opts)
	if path == "" {
		return nil, errors.New("store: state path is empty: set \"state\" in the engine config")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: resolve %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", abs, err)
	}
	// SQLite would create the file 0644; create it ourselves so it (and the -wal and
	// -shm files, which SQLite creates with the database's mode) is owner-only.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	fi, err := f.Stat()
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("store: stat %s: %w", abs, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(abs, 0o600); err != nil {
			return nil, fmt.Errorf("store: %s is readable by other users and cannot be restricted to 0600: %w", abs, err)
		}
		o.logger.Named("store").Warn("state database was readable by other users; restricted to 0600", "path", abs)
	}

	unlock, err := lockFile(abs + ".lock")
	if err != nil {
		return nil, err
	}
	s := &Store{path: abs, unlock: unlock, now: o.now, log: o.logger.Named("store")}
	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()

	s.w, err = sql.Open("sqlite", dsn(abs, o.busyTimeout, false))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.w.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	s.r, err = sql.Open("sqlite", dsn(abs, o.busyTimeout, true))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	s.r.SetMaxOpenConns(o.readers)
	s.r.SetMaxIdleConns(o.readers)
	n, err := s.RecoverRunning(ctx)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		s.log.Info("analyses interrupted by a previous run put back to pending", "count", n)
	}
	ok = true
	return s, nil
}

// OpenReadOnly opens an existing database for reading only (e.g. for the
// provider's data source while the engine runs): no lock, no migration, no recovery.
// Write methods fail.
func OpenReadOnly(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := buildOptions(opts)
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: resolve %q: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{path: abs, readOnly: true, now: o.now, log: o.logger.Named("store")}
	s.r, err = sql.Open("sqlite", dsn(abs, o.busyTimeout, true))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	s.r.SetMaxOpenConns(o.readers)
	s.w = s.r // writes fail: query_only
	v, err := schemaVersion(ctx, s.r)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	if v < len(migrations) {
		_ = s.Close()
		return nil, fmt.Errorf("store: %s has schema version %d, this binary needs %d: run imagewatch-engine once to migrate it", abs, v, len(migrations))
	}
	if v > len(migrations) {
		_ = s.Close()
		return nil, fmt.Errorf("store: %s has schema version %d, newer than this binary supports (%d): upgrade imagewatch", abs, v, len(migrations))
	}
	return s, nil
}

func dsn(path string, busy time.Duration, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busy.Milliseconds()))
	q.Set("_foreign_keys", "1")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		q.Set("_journal_mode", "WAL")
		// NORMAL in WAL mode survives a process crash (kill -9); a power loss may roll
		// back the last commits, which at-least-once delivery tolerates.
		q.Set("_synchronous", "NORMAL")
		// Take the write lock at BEGIN so a transaction never has to upgrade a read
		// lock, which busy_timeout cannot resolve.
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // Windows drive letters
	}
	return u.String()
}

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes the connections and releases the process lock.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil && s.w != s.r {
		errs = append(errs, s.w.Close())
	}
	if s.unlock != nil {
		errs = append(errs, s.unlock())
		s.unlock = nil
	}
	return errors.Join(errs...)
}

func (s *Store) writable() error {
	if s.readOnly {
		return errors.New("store: opened read-only")
	}
	return nil
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE on the single writer connection).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := s.writable(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	return s.w.ExecContext(ctx, query, args...)
}

func (s *Store) nowMs() int64 { return s.now().UnixMilli() }

// msOrZero is for NOT NULL columns where 0 means "as soon as possible".
func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// toMs converts t to unix milliseconds; the zero time becomes NULL.
func toMs(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMs(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

func truncate(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	return s[:maxErrorLen] + "…"
}
