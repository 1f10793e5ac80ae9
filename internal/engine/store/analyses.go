package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Analysis is the state of one manifest digest (index digests too).
type Analysis struct {
	Digest    string
	MediaType string
	// Parent is an index that lists this platform manifest: the first one that
	// recorded it (EnsureAnalysis), or, in Platforms' answer, the index asked
	// about. A manifest listed by several indexes, or also tagged on its own,
	// keeps every membership: see Platforms and IndexesOf.
	Parent       string
	Platform     string // os/arch[/variant]; for a single-platform image once finished
	Reference    string // where to pull it from
	Status       string // Status* constants
	Attempts     int    // claims so far (a crash mid-analysis counts)
	NextAttempt  time.Time
	Error        string // last failure
	Reason       string // why skipped
	PackageCount int
	AnalyzedAt   time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const analysisColumns = `digest, media_type, parent, platform, reference, status, attempts, next_attempt, error, reason, package_count, analyzed_at, created_at, updated_at`

func scanAnalysis(sc interface{ Scan(...any) error }) (Analysis, error) {
	var (
		a                 Analysis
		next              int64
		analyzed, created sql.NullInt64
		updated           sql.NullInt64
	)
	if err := sc.Scan(&a.Digest, &a.MediaType, &a.Parent, &a.Platform, &a.Reference, &a.Status, &a.Attempts, &next,
		&a.Error, &a.Reason, &a.PackageCount, &analyzed, &created, &updated); err != nil {
		return Analysis{}, err
	}
	if next != 0 {
		a.NextAttempt = time.UnixMilli(next).UTC()
	}
	a.AnalyzedAt, a.CreatedAt, a.UpdatedAt = fromMs(analyzed), fromMs(created), fromMs(updated)
	return a, nil
}

// EnsureAnalysis records a digest to analyse. The analysis itself is left
// alone when the digest is already known, whatever its status (use
// ResetAnalysis to analyse it again). When a.Parent is set, a is a platform
// manifest listed by that index and the membership is recorded either way, so
// Platforms(a.Parent) lists it even when it was first seen through another
// index or tagged on its own; a known manifest without a platform takes
// a.Platform. a.Status defaults to pending; Attempts, Error and results are ignored.
func (s *Store) EnsureAnalysis(ctx context.Context, a Analysis) (created bool, err error) {
	if a.Digest == "" {
		return false, errors.New("store: ensure analysis: digest is required")
	}
	if a.Status == "" {
		a.Status = StatusPending
	}
	if a.Status == StatusRunning {
		return false, fmt.Errorf("store: ensure analysis %s: cannot create a running analysis, claim it with ClaimDue", a.Digest)
	}
	if a.Parent == a.Digest {
		return false, fmt.Errorf("store: ensure analysis %s: a manifest cannot be its own index", a.Digest)
	}
	// A membership is recorded in the same transaction; a plain digest (every
	// eligible tag, every poll) is one statement.
	ensure := func(ex execer) error {
		now := s.nowMs()
		res, err := ex.ExecContext(ctx, `INSERT INTO analyses (digest, media_type, parent, platform, reference, status, next_attempt, reason, package_count, analyzed_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (digest) DO NOTHING`,
			a.Digest, a.MediaType, a.Parent, a.Platform, a.Reference, a.Status, msOrZero(a.NextAttempt), a.Reason, a.PackageCount,
			toMs(a.AnalyzedAt), now, now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		created = n == 1
		if a.Parent == "" {
			return nil
		}
		if _, err := ex.ExecContext(ctx, `INSERT INTO index_members (index_digest, member_digest, platform) VALUES (?, ?, ?)
			ON CONFLICT (index_digest, member_digest) DO UPDATE SET platform = excluded.platform WHERE excluded.platform != ''`,
			a.Parent, a.Digest, a.Platform); err != nil {
			return err
		}
		if !created && a.Platform != "" {
			_, err = ex.ExecContext(ctx, `UPDATE analyses SET platform = ? WHERE digest = ? AND platform = ''`, a.Platform, a.Digest)
		}
		return err
	}
	if a.Parent == "" {
		if err = s.writable(); err == nil {
			err = ensure(s.w)
		}
	} else {
		err = s.tx(ctx, func(tx *sql.Tx) error { return ensure(tx) })
	}
	if err != nil {
		return false, fmt.Errorf("store: ensure analysis %s: %w", a.Digest, err)
	}
	return created, nil
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// ResetAnalysis puts digest, and every platform manifest it lists, back
// to pending with no attempts (--force). Rows being analysed right now are left
// alone so no digest is ever claimed twice. Stored results stay until replaced.
func (s *Store) ResetAnalysis(ctx context.Context, digest string) error {
	res, err := s.exec(ctx, `UPDATE analyses SET status = 'pending', attempts = 0, next_attempt = 0, error = '', reason = '', updated_at = ?
		WHERE (digest = ? OR digest IN (SELECT member_digest FROM index_members WHERE index_digest = ?)) AND status != 'running'`,
		s.nowMs(), digest, digest)
	if err != nil {
		return fmt.Errorf("store: reset analysis %s: %w", digest, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, ok, err := s.Get(ctx, digest); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("store: reset analysis %s: %w", digest, ErrNotFound)
		}
	}
	return nil
}

// ClaimDue atomically moves up to limit pending analyses whose next attempt is due
// (<= now) to running, counts the attempt and returns them, oldest due first. Two
// concurrent callers never receive the same digest.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int) ([]Analysis, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	// One UPDATE ... RETURNING: the selection and the status change are a single
	// statement on the single writer connection, so they cannot interleave.
	rows, err := s.w.QueryContext(ctx, `UPDATE analyses SET status = 'running', attempts = attempts + 1, updated_at = ?
		WHERE digest IN (
			SELECT digest FROM analyses WHERE status = 'pending' AND next_attempt <= ?
			ORDER BY next_attempt, created_at, digest LIMIT ?)
		RETURNING `+analysisColumns, s.nowMs(), now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: claim analyses: %w", err)
	}
	defer rows.Close()
	var out []Analysis
	for rows.Next() {
		a, err := scanAnalysis(rows)
		if err != nil {
			return nil, fmt.Errorf("store: claim analyses: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: claim analyses: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextAttempt.Equal(out[j].NextAttempt) {
			return out[i].NextAttempt.Before(out[j].NextAttempt)
		}
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].Digest < out[j].Digest
	})
	return out, nil
}

// RecoverRunning puts every running analysis back to pending (a previous process
// died mid-analysis). Open calls it; attempts are kept so a digest that crashes
// the process still reaches its retry limit.
func (s *Store) RecoverRunning(ctx context.Context) (int64, error) {
	res, err := s.exec(ctx, `UPDATE analyses SET status = 'pending', next_attempt = 0, updated_at = ? WHERE status = 'running'`, s.nowMs())
	if err != nil {
		return 0, fmt.Errorf("store: recover running analyses: %w", err)
	}
	return res.RowsAffected()
}

// Result is what an analysis produced, kept until every output has it.
type Result struct {
	Metadata []byte            // metadata.json document
	SBOMs    map[string][]byte // format -> document
}

// Completion finishes an analysis.
type Completion struct {
	Status       string // StatusDone or StatusSkipped
	PackageCount int
	Reason       string // why skipped
	// Platform (os/arch[/variant]) replaces the stored platform. When empty, a
	// manifest that has none takes the "platform" of Result.Metadata, so a
	// single-platform image is listed with its platform.
	Platform string
	// Result, when set, replaces the stored result (metadata and SBOMs).
	Result *Result
	// Outputs get a pending delivery of digest in the same transaction, so a crash
	// right after cannot lose the delivery.
	Outputs []string
}

// Finish records the outcome of a claimed analysis, its result and the deliveries
// it needs, atomically.
func (s *Store) Finish(ctx context.Context, digest string, c Completion) error {
	if c.Status != StatusDone && c.Status != StatusSkipped {
		return fmt.Errorf("store: finish analysis %s: status must be %q or %q, not %q", digest, StatusDone, StatusSkipped, c.Status)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.nowMs()
		res, err := tx.ExecContext(ctx, `UPDATE analyses SET status = ?, package_count = ?, reason = ?, error = '', next_attempt = 0, analyzed_at = ?, updated_at = ?
			WHERE digest = ?`, c.Status, c.PackageCount, c.Reason, now, now, digest)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if err := setPlatform(ctx, tx, digest, c); err != nil {
			return err
		}
		if c.Result != nil {
			if err := putResult(ctx, tx, digest, *c.Result, now); err != nil {
				return err
			}
		}
		for _, o := range c.Outputs {
			if err := enqueueDelivery(ctx, tx, o, digest, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: finish analysis %s: %w", digest, err)
	}
	return nil
}

// Complete records the outcome of an analysis without a result or deliveries.
func (s *Store) Complete(ctx context.Context, digest, status string, packageCount int, reason string) error {
	return s.Finish(ctx, digest, Completion{Status: status, PackageCount: packageCount, Reason: reason})
}

// Fail records a failed attempt. A retryable failure goes back to pending, due at
// next; a terminal one is failed for good (until ResetAnalysis).
func (s *Store) Fail(ctx context.Context, digest, errMsg string, next time.Time, terminal bool) error {
	status := StatusPending
	if terminal {
		status = StatusFailed
	}
	res, err := s.exec(ctx, `UPDATE analyses SET status = ?, error = ?, next_attempt = ?, updated_at = ? WHERE digest = ?`,
		status, truncate(errMsg), msOrZero(next), s.nowMs(), digest)
	if err != nil {
		return fmt.Errorf("store: fail analysis %s: %w", digest, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: fail analysis %s: %w", digest, ErrNotFound)
	}
	return nil
}

// Get returns the analysis of digest.
func (s *Store) Get(ctx context.Context, digest string) (Analysis, bool, error) {
	a, err := scanAnalysis(s.r.QueryRowContext(ctx, `SELECT `+analysisColumns+` FROM analyses WHERE digest = ?`, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return Analysis{}, false, nil
	}
	if err != nil {
		return Analysis{}, false, fmt.Errorf("store: get analysis %s: %w", digest, err)
	}
	return a, true, nil
}

// setPlatform records the platform a completion names, or the one in its
// metadata for a manifest that has none yet.
func setPlatform(ctx context.Context, tx *sql.Tx, digest string, c Completion) error {
	if c.Platform != "" {
		_, err := tx.ExecContext(ctx, `UPDATE analyses SET platform = ? WHERE digest = ?`, c.Platform, digest)
		return err
	}
	if c.Result == nil {
		return nil
	}
	p := metadataPlatform(c.Result.Metadata)
	if p == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE analyses SET platform = ? WHERE digest = ? AND platform = ''`, p, digest)
	return err
}

// metadataPlatform is os/arch[/variant] of a metadata.json document (the
// analyzer's schema, DESIGN.md); "" when it has none or cannot be read.
// Migration 0002 derives the same string in SQL for version 1 databases.
func metadataPlatform(doc []byte) string {
	var md struct {
		Platform struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
			Variant      string `json:"variant"`
		} `json:"platform"`
	}
	if json.Unmarshal(doc, &md) != nil || md.Platform.OS == "" {
		return ""
	}
	p := md.Platform.OS + "/" + md.Platform.Architecture
	if md.Platform.Variant != "" {
		p += "/" + md.Platform.Variant
	}
	return p
}

// Platforms returns the analyses of the platform manifests index lists, in
// platform order, each with Parent set to index and Platform as index lists
// it. A manifest listed by other indexes too, or tagged on its own, is included.
func (s *Store) Platforms(ctx context.Context, index string) ([]Analysis, error) {
	return s.queryAnalyses(ctx, "platforms of "+index, `SELECT a.digest, a.media_type, m.index_digest,
		CASE WHEN m.platform != '' THEN m.platform ELSE a.platform END AS member_platform,
		a.reference, a.status, a.attempts, a.next_attempt, a.error, a.reason, a.package_count, a.analyzed_at, a.created_at, a.updated_at
		FROM index_members m JOIN analyses a ON a.digest = m.member_digest
		WHERE m.index_digest = ? ORDER BY member_platform, a.digest`, index)
}

// IndexesOf returns the digests of the indexes that list the platform manifest
// digest, sorted; none for a manifest that is only tagged on its own.
func (s *Store) IndexesOf(ctx context.Context, digest string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT index_digest FROM index_members WHERE member_digest = ? ORDER BY index_digest`, digest)
	if err != nil {
		return nil, fmt.Errorf("store: indexes of %s: %w", digest, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("store: indexes of %s: %w", digest, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: indexes of %s: %w", digest, err)
	}
	return out, nil
}

func putResult(ctx context.Context, tx *sql.Tx, digest string, r Result, now int64) error {
	if len(r.Metadata) == 0 {
		return errors.New("result has no metadata")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO results (digest, metadata, created_at) VALUES (?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET metadata = excluded.metadata, created_at = excluded.created_at`, digest, r.Metadata, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM result_sboms WHERE digest = ?`, digest); err != nil {
		return err
	}
	for format, body := range r.SBOMs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO result_sboms (digest, format, body) VALUES (?, ?, ?)`, digest, format, body); err != nil {
			return err
		}
	}
	return nil
}

// Metadata returns the stored metadata.json of digest, without reading its
// SBOMs (which can be many megabytes).
func (s *Store) Metadata(ctx context.Context, digest string) ([]byte, bool, error) {
	var md []byte
	err := s.r.QueryRowContext(ctx, `SELECT metadata FROM results WHERE digest = ?`, digest).Scan(&md)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: metadata of %s: %w", digest, err)
	}
	return md, true, nil
}

// Result returns the stored result of digest. SBOMs is empty once pruned.
func (s *Store) Result(ctx context.Context, digest string) (Result, bool, error) {
	var r Result
	err := s.r.QueryRowContext(ctx, `SELECT metadata FROM results WHERE digest = ?`, digest).Scan(&r.Metadata)
	if errors.Is(err, sql.ErrNoRows) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("store: result of %s: %w", digest, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT format, body FROM result_sboms WHERE digest = ?`, digest)
	if err != nil {
		return Result{}, false, fmt.Errorf("store: result of %s: %w", digest, err)
	}
	defer rows.Close()
	r.SBOMs = map[string][]byte{}
	for rows.Next() {
		var (
			format string
			body   []byte
		)
		if err := rows.Scan(&format, &body); err != nil {
			return Result{}, false, fmt.Errorf("store: result of %s: %w", digest, err)
		}
		r.SBOMs[format] = body
	}
	if err := rows.Err(); err != nil {
		return Result{}, false, fmt.Errorf("store: result of %s: %w", digest, err)
	}
	return r, true, nil
}

// PruneDeliveredSBOMs drops the stored SBOM documents of every digest that has no
// delivery left to make (metadata is kept for the inventory). It returns how many
// documents were dropped.
func (s *Store) PruneDeliveredSBOMs(ctx context.Context) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM result_sboms WHERE NOT EXISTS (
		SELECT 1 FROM deliveries d WHERE d.digest = result_sboms.digest AND d.status != 'delivered')`)
	if err != nil {
		return 0, fmt.Errorf("store: prune sboms: %w", err)
	}
	return res.RowsAffected()
}

// ListFilter selects analyses or inventory rows. Empty fields do not filter.
type ListFilter struct {
	Integration string
	Repository  string
	Image       string
	Status      string
	Limit       int // 0 = no limit
	Offset      int
}

// tagMatch builds the tag conditions of f on alias t, and their args.
func (f ListFilter) tagMatch(t string) ([]string, []any) {
	var (
		conds []string
		args  []any
	)
	if f.Integration != "" {
		conds, args = append(conds, t+".integration = ?"), append(args, f.Integration)
	}
	if f.Repository != "" {
		conds, args = append(conds, t+".repository = ?"), append(args, f.Repository)
	}
	if f.Image != "" {
		conds, args = append(conds, t+".image = ?"), append(args, f.Image)
	}
	return conds, args
}

func (f ListFilter) page() (string, []any) {
	if f.Limit <= 0 && f.Offset <= 0 {
		return "", nil
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	return " LIMIT ? OFFSET ?", []any{limit, max(f.Offset, 0)}
}

// List returns analyses matching f, most recently updated first. A platform
// manifest matches the tag conditions through the tags of every index that lists it.
func (s *Store) List(ctx context.Context, f ListFilter) ([]Analysis, error) {
	var (
		where []string
		args  []any
	)
	if tc, ta := f.tagMatch("t"); len(tc) > 0 {
		where = append(where, `EXISTS (SELECT 1 FROM tags t WHERE (t.digest = a.digest OR t.digest IN (SELECT m.index_digest FROM index_members m WHERE m.member_digest = a.digest)) AND `+strings.Join(tc, " AND ")+`)`)
		args = append(args, ta...)
	}
	if f.Status != "" {
		where, args = append(where, "a.status = ?"), append(args, f.Status)
	}
	q := `SELECT ` + prefixed("a", analysisColumns) + ` FROM analyses a`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY a.updated_at DESC, a.digest"
	p, pa := f.page()
	return s.queryAnalyses(ctx, "list analyses", q+p, append(args, pa...)...)
}

func (s *Store) queryAnalyses(ctx context.Context, what, query string, args ...any) ([]Analysis, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Analysis
	for rows.Next() {
		a, err := scanAnalysis(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// InventoryItem is one tag with the analysis of the digest it points at.
type InventoryItem struct {
	Tag      Tag
	Analysis Analysis // zero when the digest has no analysis yet
	Analyzed bool     // an analysis row exists
}

// Inventory returns one row per tag matching f (with its digest's analysis),
// ordered by integration, repository, image, tag. Status filters on the analysis.
func (s *Store) Inventory(ctx context.Context, f ListFilter) ([]InventoryItem, error) {
	where, args := f.tagMatch("t")
	if f.Status != "" {
		where, args = append(where, "a.status = ?"), append(args, f.Status)
	}
	q := `SELECT ` + prefixed("t", tagColumns) + `, a.digest IS NOT NULL,
		coalesce(a.media_type, ''), coalesce(a.parent, ''), coalesce(a.platform, ''), coalesce(a.reference, ''), coalesce(a.status, ''),
		coalesce(a.attempts, 0), coalesce(a.next_attempt, 0), coalesce(a.error, ''), coalesce(a.reason, ''), coalesce(a.package_count, 0),
		a.analyzed_at, a.created_at, a.updated_at
		FROM tags t LEFT JOIN analyses a ON a.digest = t.digest`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY t.integration, t.repository, t.image, t.tag"
	p, pa := f.page()
	rows, err := s.r.QueryContext(ctx, q+p, append(args, pa...)...)
	if err != nil {
		return nil, fmt.Errorf("store: inventory: %w", err)
	}
	defer rows.Close()
	var out []InventoryItem
	for rows.Next() {
		var (
			it                         InventoryItem
			mod, first, last           sql.NullInt64
			next                       int64
			analyzed, created, updated sql.NullInt64
			a                          = &it.Analysis
			t                          = &it.Tag
		)
		if err := rows.Scan(&t.Integration, &t.Repository, &t.Image, &t.Tag, &t.Digest, &t.MediaType, &t.Reference, &mod, &first, &last,
			&it.Analyzed, &a.MediaType, &a.Parent, &a.Platform, &a.Reference, &a.Status, &a.Attempts, &next, &a.Error, &a.Reason,
			&a.PackageCount, &analyzed, &created, &updated); err != nil {
			return nil, fmt.Errorf("store: inventory: %w", err)
		}
		t.Modified, t.FirstSeen, t.LastSeen = fromMs(mod), fromMs(first), fromMs(last)
		if it.Analyzed {
			a.Digest = t.Digest
			if next != 0 {
				a.NextAttempt = time.UnixMilli(next).UTC()
			}
			a.AnalyzedAt, a.CreatedAt, a.UpdatedAt = fromMs(analyzed), fromMs(created), fromMs(updated)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: inventory: %w", err)
	}
	return out, nil
}

// Counts returns the number of analyses per status (every status present, zero or not).
func (s *Store) Counts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{StatusPending: 0, StatusRunning: 0, StatusDone: 0, StatusSkipped: 0, StatusFailed: 0}
	rows, err := s.r.QueryContext(ctx, `SELECT status, count(*) FROM analyses GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("store: count analyses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			st string
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: count analyses: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count analyses: %w", err)
	}
	return out, nil
}

func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
