package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations are the schema steps in order; migrations[i] brings the schema to
// version i+1. Files are named NNNN_description.sql and must be numbered 1..n
// without gaps. Never edit a released migration: add a new file.
var migrations = mustLoadMigrations()

func mustLoadMigrations() []string {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		panic(err) // embedded at build time: cannot fail at run time
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for i, n := range names {
		num, _, _ := strings.Cut(n, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != i+1 {
			panic(fmt.Sprintf("store: migration %s out of sequence (want %04d_*.sql)", n, i+1))
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", n))
		if err != nil {
			panic(err)
		}
		out = append(out, string(b))
	}
	return out
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL
)`

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	if exists == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// migrate applies every migration not yet recorded, each in its own transaction
// together with its schema_migrations row, so a crash leaves either the old or the
// new version, never half of one.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	for i, m := range migrations {
		version := i + 1
		err := s.tx(ctx, func(tx *sql.Tx) error {
			// Re-read inside the write transaction: another process may have migrated meanwhile.
			current, err := schemaVersion(ctx, tx)
			if err != nil {
				return err
			}
			if current > len(migrations) {
				return fmt.Errorf("store: %s has schema version %d, newer than this binary supports (%d): upgrade imagewatch-engine", s.path, current, len(migrations))
			}
			if current >= version {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return fmt.Errorf("store: migration %d: %w", version, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, s.nowMs()); err != nil {
				return fmt.Errorf("store: record migration %d: %w", version, err)
			}
			s.log.Debug("applied migration", "version", version)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion reports the schema version of the open database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) { return schemaVersion(ctx, s.r) }
