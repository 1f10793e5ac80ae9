package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Delivery is the state of one digest at one output.
type Delivery struct {
	Output      string
	Digest      string
	Status      string // Delivery* constants
	Attempts    int
	NextAttempt time.Time
	Error       string
	DeliveredAt time.Time
}

func enqueueDelivery(ctx context.Context, tx *sql.Tx, output, digest string, now int64) error {
	if output == "" {
		return fmt.Errorf("enqueue delivery of %s: output name is empty", digest)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO deliveries (output, digest, status, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?)
		ON CONFLICT (output, digest) DO UPDATE SET status = 'pending', attempts = 0, next_attempt = 0, error = '', updated_at = excluded.updated_at`,
		output, digest, now, now)
	if err != nil {
		return fmt.Errorf("enqueue delivery of %s to %s: %w", digest, output, err)
	}
	return nil
}

// EnqueueDelivery makes digest due at output. An existing delivery, even a
// delivered one, goes back to pending: the caller has something new to send (a
// new tag, a forced re-analysis). The analysis must exist.
func (s *Store) EnqueueDelivery(ctx context.Context, output, digest string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error { return enqueueDelivery(ctx, tx, output, digest, s.nowMs()) })
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// EnqueueMissingDeliveries gives output a pending delivery of every digest that
// has a stored result but no delivery row for output yet (an output added to the
// config later). It returns how many were enqueued.
func (s *Store) EnqueueMissingDeliveries(ctx context.Context, output string) (int64, error) {
	now := s.nowMs()
	res, err := s.exec(ctx, `INSERT INTO deliveries (output, digest, status, created_at, updated_at)
		SELECT ?, r.digest, 'pending', ?, ? FROM results r
		WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.output = ? AND d.digest = r.digest)`, output, now, now, output)
	if err != nil {
		return 0, fmt.Errorf("store: enqueue missing deliveries to %s: %w", output, err)
	}
	return res.RowsAffected()
}

// PendingDeliveries returns up to limit digests due (now, by the store's clock) at output, oldest first.
func (s *Store) PendingDeliveries(ctx context.Context, output string, limit int) ([]string, error) {
	ds, err := s.DueDeliveries(ctx, output, s.now(), limit)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Digest
	}
	return out, nil
}

// DueDeliveries returns up to limit pending deliveries at output whose next
// attempt is <= now, oldest first. An empty output means every output.
func (s *Store) DueDeliveries(ctx context.Context, output string, now time.Time, limit int) ([]Delivery, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT output, digest, status, attempts, next_attempt, error, delivered_at FROM deliveries
		WHERE status = 'pending' AND next_attempt <= ? AND (? = '' OR output = ?)
		ORDER BY next_attempt, created_at, digest LIMIT ?`, now.UnixMilli(), output, output, limit)
	if err != nil {
		return nil, fmt.Errorf("store: due deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var (
			d         Delivery
			next      int64
			delivered sql.NullInt64
		)
		if err := rows.Scan(&d.Output, &d.Digest, &d.Status, &d.Attempts, &next, &d.Error, &delivered); err != nil {
			return nil, fmt.Errorf("store: due deliveries: %w", err)
		}
		if next != 0 {
			d.NextAttempt = time.UnixMilli(next).UTC()
		}
		d.DeliveredAt = fromMs(delivered)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: due deliveries: %w", err)
	}
	return out, nil
}

// Delivery returns the delivery of digest at output.
func (s *Store) Delivery(ctx context.Context, output, digest string) (Delivery, bool, error) {
	var (
		d         Delivery
		next      int64
		delivered sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT output, digest, status, attempts, next_attempt, error, delivered_at FROM deliveries WHERE output = ? AND digest = ?`,
		output, digest).Scan(&d.Output, &d.Digest, &d.Status, &d.Attempts, &next, &d.Error, &delivered)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, false, nil
	}
	if err != nil {
		return Delivery{}, false, fmt.Errorf("store: delivery of %s to %s: %w", digest, output, err)
	}
	if next != 0 {
		d.NextAttempt = time.UnixMilli(next).UTC()
	}
	d.DeliveredAt = fromMs(delivered)
	return d, true, nil
}

// MarkDelivered records that output acknowledged digest.
func (s *Store) MarkDelivered(ctx context.Context, output, digest string) error {
	now := s.nowMs()
	res, err := s.exec(ctx, `UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, error = '', next_attempt = 0, delivered_at = ?, updated_at = ?
		WHERE output = ? AND digest = ?`, now, now, output, digest)
	if err != nil {
		return fmt.Errorf("store: mark %s delivered to %s: %w", digest, output, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: mark %s delivered to %s: %w", digest, output, ErrNotFound)
	}
	return nil
}

// FailDelivery records a failed delivery attempt: retryable ones stay pending,
// due at next; terminal ones are failed until enqueued again.
func (s *Store) FailDelivery(ctx context.Context, output, digest, errMsg string, next time.Time, terminal bool) error {
	status := DeliveryPending
	if terminal {
		status = DeliveryFailed
	}
	res, err := s.exec(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, error = ?, next_attempt = ?, updated_at = ?
		WHERE output = ? AND digest = ?`, status, truncate(errMsg), msOrZero(next), s.nowMs(), output, digest)
	if err != nil {
		return fmt.Errorf("store: fail delivery of %s to %s: %w", digest, output, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: fail delivery of %s to %s: %w", digest, output, ErrNotFound)
	}
	return nil
}

// DeliveryCounts returns, per output, the number of deliveries per status.
func (s *Store) DeliveryCounts(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT output, status, count(*) FROM deliveries GROUP BY output, status`)
	if err != nil {
		return nil, fmt.Errorf("store: count deliveries: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var (
			o, st string
			n     int
		)
		if err := rows.Scan(&o, &st, &n); err != nil {
			return nil, fmt.Errorf("store: count deliveries: %w", err)
		}
		if out[o] == nil {
			out[o] = map[string]int{DeliveryPending: 0, DeliveryDelivered: 0, DeliveryFailed: 0}
		}
		out[o][st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count deliveries: %w", err)
	}
	return out, nil
}
