package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Cursor is an integration's discovery position.
type Cursor struct {
	Modified time.Time // AQL "modified" of the newest item processed
	Seen     []string  // ids of the items at Modified already processed (same-millisecond pushes)
	Started  time.Time // first engine start for the integration
}

// Cursor returns the stored cursor of integration; ok is false when none was saved.
func (s *Store) Cursor(ctx context.Context, integration string) (Cursor, bool, error) {
	var (
		mod, started sql.NullInt64
		seen         string
	)
	err := s.r.QueryRowContext(ctx, `SELECT cursor_modified, cursor_seen, first_started FROM integrations WHERE name = ?`, integration).
		Scan(&mod, &seen, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return Cursor{}, false, nil
	}
	if err != nil {
		return Cursor{}, false, fmt.Errorf("store: read cursor of %q: %w", integration, err)
	}
	c := Cursor{Modified: fromMs(mod), Started: fromMs(started)}
	if err := json.Unmarshal([]byte(seen), &c.Seen); err != nil {
		return Cursor{}, false, fmt.Errorf("store: cursor of %q: boundary ids: %w", integration, err)
	}
	return c, true, nil
}

// SaveCursor stores the cursor of integration. A zero Started keeps the stored one,
// so callers that only advance Modified cannot erase the first start.
func (s *Store) SaveCursor(ctx context.Context, integration string, c Cursor) error {
	if integration == "" {
		return errors.New("store: save cursor: integration name is empty")
	}
	seen := c.Seen
	if seen == nil {
		seen = []string{}
	}
	b, err := json.Marshal(seen)
	if err != nil {
		return fmt.Errorf("store: save cursor of %q: %w", integration, err)
	}
	_, err = s.exec(ctx, `INSERT INTO integrations (name, cursor_modified, cursor_seen, first_started, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			cursor_modified = excluded.cursor_modified,
			cursor_seen     = excluded.cursor_seen,
			first_started   = coalesce(excluded.first_started, integrations.first_started),
			updated_at      = excluded.updated_at`,
		integration, toMs(c.Modified), string(b), toMs(c.Started), s.nowMs())
	if err != nil {
		return fmt.Errorf("store: save cursor of %q: %w", integration, err)
	}
	return nil
}
