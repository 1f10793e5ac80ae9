package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Tag is one (integration, repository, image, tag) and the digest it points at.
type Tag struct {
	Integration string
	Repository  string
	Image       string
	Tag         string
	Digest      string
	MediaType   string
	Reference   string    // pullable reference, host/repository/image:tag
	Modified    time.Time // Artifactory's "modified" of the manifest
	FirstSeen   time.Time // set by the store
	LastSeen    time.Time // set by the store
}

// UpsertTag records t. changed is true when the tag is new or now points at a
// different digest; re-seeing the same digest only refreshes last_seen and details.
func (s *Store) UpsertTag(ctx context.Context, t Tag) (changed bool, err error) {
	c, err := s.UpsertTags(ctx, []Tag{t})
	if err != nil {
		return false, err
	}
	return c[0], nil
}

// UpsertTags records many tags in one transaction (a discovery page); changed[i]
// is UpsertTag's flag for tags[i]. Either every tag is recorded or none.
func (s *Store) UpsertTags(ctx context.Context, tags []Tag) (changed []bool, err error) {
	for _, t := range tags {
		switch {
		case t.Integration == "", t.Repository == "", t.Image == "", t.Tag == "":
			return nil, fmt.Errorf("store: upsert tag %s/%s:%s: integration, repository, image and tag are required", t.Repository, t.Image, t.Tag)
		case t.Digest == "":
			return nil, fmt.Errorf("store: upsert tag %s/%s:%s: digest is required", t.Repository, t.Image, t.Tag)
		}
	}
	changed = make([]bool, len(tags))
	err = s.tx(ctx, func(tx *sql.Tx) error {
		st, err := prepareTagStmts(ctx, tx)
		if err != nil {
			return fmt.Errorf("store: upsert tags: %w", err)
		}
		defer st.close()
		now := s.nowMs()
		for i, t := range tags {
			c, err := st.upsert(ctx, t, now)
			if err != nil {
				return fmt.Errorf("store: upsert tag %s/%s:%s: %w", t.Repository, t.Image, t.Tag, err)
			}
			changed[i] = c
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// tagStmts are prepared once per batch: discovery pages hold hundreds of tags.
type tagStmts struct{ sel, ins, upd *sql.Stmt }

func prepareTagStmts(ctx context.Context, tx *sql.Tx) (*tagStmts, error) {
	var (
		st  tagStmts
		err error
	)
	if st.sel, err = tx.PrepareContext(ctx, `SELECT digest FROM tags WHERE integration = ? AND repository = ? AND image = ? AND tag = ?`); err != nil {
		return nil, err
	}
	if st.ins, err = tx.PrepareContext(ctx, `INSERT INTO tags (integration, repository, image, tag, digest, media_type, reference, modified, first_seen, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		st.close()
		return nil, err
	}
	if st.upd, err = tx.PrepareContext(ctx, `UPDATE tags SET digest = ?, media_type = ?, reference = ?, modified = coalesce(?, modified), last_seen = ?
		WHERE integration = ? AND repository = ? AND image = ? AND tag = ?`); err != nil {
		st.close()
		return nil, err
	}
	return &st, nil
}

func (st *tagStmts) close() {
	for _, s := range []*sql.Stmt{st.sel, st.ins, st.upd} {
		if s != nil {
			_ = s.Close()
		}
	}
}

func (st *tagStmts) upsert(ctx context.Context, t Tag, now int64) (changed bool, err error) {
	var old string
	err = st.sel.QueryRowContext(ctx, t.Integration, t.Repository, t.Image, t.Tag).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = st.ins.ExecContext(ctx, t.Integration, t.Repository, t.Image, t.Tag, t.Digest, t.MediaType, t.Reference, toMs(t.Modified), now, now)
		return err == nil, err
	case err != nil:
		return false, err
	}
	_, err = st.upd.ExecContext(ctx, t.Digest, t.MediaType, t.Reference, toMs(t.Modified), now, t.Integration, t.Repository, t.Image, t.Tag)
	return err == nil && old != t.Digest, err
}

// DeleteTag forgets a tag that no longer exists in Artifactory. Its analysis stays.
func (s *Store) DeleteTag(ctx context.Context, integration, repository, image, tag string) error {
	_, err := s.exec(ctx, `DELETE FROM tags WHERE integration = ? AND repository = ? AND image = ? AND tag = ?`, integration, repository, image, tag)
	if err != nil {
		return fmt.Errorf("store: delete tag %s/%s:%s: %w", repository, image, tag, err)
	}
	return nil
}

const tagColumns = `integration, repository, image, tag, digest, media_type, reference, modified, first_seen, last_seen`

func scanTag(sc interface{ Scan(...any) error }) (Tag, error) {
	var (
		t                Tag
		mod, first, last sql.NullInt64
	)
	if err := sc.Scan(&t.Integration, &t.Repository, &t.Image, &t.Tag, &t.Digest, &t.MediaType, &t.Reference, &mod, &first, &last); err != nil {
		return Tag{}, err
	}
	t.Modified, t.FirstSeen, t.LastSeen = fromMs(mod), fromMs(first), fromMs(last)
	return t, nil
}

func (s *Store) queryTags(ctx context.Context, what, query string, args ...any) ([]Tag, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Tag
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// Tags returns the tags of integration ordered by repository, image, tag.
func (s *Store) Tags(ctx context.Context, integration string) ([]Tag, error) {
	return s.queryTags(ctx, "tags of "+integration,
		`SELECT `+tagColumns+` FROM tags WHERE integration = ? ORDER BY repository, image, tag`, integration)
}

// TagsForDigest returns every tag (across integrations and repositories) that
// points at digest itself. For a platform manifest use TagsForManifest.
func (s *Store) TagsForDigest(ctx context.Context, digest string) ([]Tag, error) {
	return s.queryTags(ctx, "tags of "+digest,
		`SELECT `+tagColumns+` FROM tags WHERE digest = ? ORDER BY integration, repository, image, tag`, digest)
}

// TagsForManifest returns every tag that points at digest or at an index that
// lists it: all the names a platform manifest is reachable under, whether it is
// tagged on its own, listed by one index or by several.
func (s *Store) TagsForManifest(ctx context.Context, digest string) ([]Tag, error) {
	return s.queryTags(ctx, "tags of "+digest,
		`SELECT `+tagColumns+` FROM tags
		WHERE digest = ? OR digest IN (SELECT index_digest FROM index_members WHERE member_digest = ?)
		ORDER BY integration, repository, image, tag`, digest, digest)
}
