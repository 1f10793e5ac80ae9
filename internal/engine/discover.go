package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// layoutTTL is how long the repository classes of an integration are trusted
// before being read again (they decide how a key is searched).
const layoutTTL = time.Hour

// repoLayout says how each watched key is listed: through AQL (local and
// federated keys as is, remote keys as "<key>-cache") or, for virtual keys and
// when AQL is refused, through the Docker catalog.
type repoLayout struct {
	aql       map[string]string // AQL repository -> configured key
	catalog   []string          // keys listed through the Docker API
	read      time.Time
	aqlDenied bool // AQL refused at the last poll: go straight to the catalog
	deniedAt  time.Time
}

func (l *repoLayout) aqlRepos() []string {
	out := make([]string, 0, len(l.aql))
	for r := range l.aql {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// layoutFor reads (or reuses) the classes of the integration's keys.
func (e *Engine) layoutFor(ctx context.Context, in *integration) (*repoLayout, error) {
	now := e.set.clock()
	if in.layout != nil && now.Sub(in.layout.read) < layoutTTL {
		return in.layout, nil
	}
	keys := in.cfg.Repositories
	if len(keys) == 0 {
		repos, err := in.client.Repositories(ctx, artifactory.ListRepositoriesOptions{PackageType: "docker"})
		if err != nil {
			return nil, fmt.Errorf("list Docker repositories: %w", err)
		}
		for _, r := range repos {
			keys = append(keys, r.Key)
		}
	}
	l := &repoLayout{aql: map[string]string{}, read: now}
	for _, key := range keys {
		repo, err := in.client.Repository(ctx, key)
		switch {
		case err == nil:
		case artifactory.IsForbidden(err) || artifactory.IsUnauthorized(err):
			// Not allowed to read the configuration: search the key as a local one.
			l.aql[key] = key
			continue
		case artifactory.IsNotFound(err):
			// One missing key must not hide the others; validate names it.
			in.log.Error("repository not found; not watched until it exists", "repository", key, "error", err)
			continue
		default:
			return nil, fmt.Errorf("repository %q: %w", key, err)
		}
		switch repo.Class {
		case artifactory.ClassRemote:
			l.aql[key+"-cache"] = key
		case artifactory.ClassVirtual:
			l.catalog = append(l.catalog, key)
		default:
			l.aql[key] = key
		}
	}
	if in.layout != nil && in.layout.aqlDenied && now.Sub(in.layout.deniedAt) < layoutTTL {
		l.aqlDenied, l.deniedAt = true, in.layout.deniedAt
	}
	in.layout = l
	return l, nil
}

// baseline is the first start in the server's clock: the modified time of the
// newest manifest already stored, so "pushed before the first start" does not
// depend on clock skew between us and Artifactory. Without one (empty
// repositories, AQL refused or without sort) it is our clock minus the overlap
// window, erring on the side of analysing a push made just before the start.
func (e *Engine) baseline(ctx context.Context, in *integration, layout *repoLayout, now time.Time) (time.Time, error) {
	fallback := now.Add(-e.set.overlap)
	repos := layout.aqlRepos()
	if len(repos) == 0 || layout.aqlDenied {
		return fallback, nil
	}
	repoOr := make([]any, 0, len(repos))
	for _, r := range repos {
		repoOr = append(repoOr, map[string]any{"repo": r})
	}
	criteria, err := json.Marshal(map[string]any{"$and": []any{
		map[string]any{"$or": repoOr},
		map[string]any{"$or": []any{map[string]any{"name": artifactory.ManifestFile}, map[string]any{"name": artifactory.ListManifestFile}}},
	}})
	if err != nil {
		return fallback, nil
	}
	res, err := in.client.AQL(ctx, fmt.Sprintf(`items.find(%s).include("repo","path","name","modified").sort({"$desc":["modified"]}).limit(1)`, criteria))
	switch {
	case err != nil && aqlRefused(err):
		in.log.Debug("cannot read the newest manifest; the first start uses the local clock", "error", err)
		return fallback, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("read the newest manifest: %w", err)
	case len(res.Results) == 0 || res.Results[0].Modified.IsZero():
		return fallback, nil
	}
	return res.Results[0].Modified, nil
}

// aqlRefused tells whether an AQL error means "list through the Docker API":
// AQL forbidden for this user, the OSS edition, or no AQL endpoint.
func aqlRefused(err error) bool {
	switch artifactory.StatusCode(err) {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
		return true
	}
	return false
}

// discovered is one tag found by a listing, with what decides whether to analyse it.
type discovered struct {
	img      artifactory.Image
	eligible bool // to analyse (subject to de-duplication by digest)
}

// discover runs one discovery of in. from == nil is an incremental poll from the
// stored cursor; otherwise a backfill of everything modified since *from.
//
// Tags are recorded before their analyses are ensured, and analyses are ensured
// for every eligible tag whether or not the tag changed (EnsureAnalysis is a
// no-op for known digests): a crash between the two cannot lose a push because
// the cursor only advances after both, so the next poll lists it again.
func (e *Engine) discover(ctx context.Context, in *integration, from *time.Time) error {
	start := e.set.clock()
	cur, haveCursor, err := e.store.Cursor(ctx, in.name)
	if err != nil {
		return err
	}
	layout, err := e.layoutFor(ctx, in)
	if err != nil {
		return err
	}
	firstStart := !haveCursor
	if firstStart {
		baseline, err := e.baseline(ctx, in, layout, start)
		if err != nil {
			return err
		}
		cur = store.Cursor{Modified: baseline, Started: baseline}
		// Saved at once: a poll failing after this point must not take a new,
		// later baseline and lose what was pushed in between.
		if err := e.store.SaveCursor(ctx, in.name, cur); err != nil {
			return err
		}
		if from == nil {
			in.log.Info("first start: images pushed before now are not analysed (use --backfill-from to analyse them)",
				"newer_than", baseline.UTC().Format(time.RFC3339Nano))
		}
	}

	var after time.Time
	switch {
	case from != nil:
		after = from.Add(-time.Millisecond) // ModifiedAfter is exclusive; --backfill-from is inclusive
	case cur.Modified.Equal(in.cursorMod) && start.Sub(in.cursorSince) > 2*e.set.overlap:
		// The cursor has not moved for two overlap windows: whatever was stamped at
		// or before it has long been listed, so idle polls stop re-listing the last
		// burst and cost one request.
		after = cur.Modified
	default:
		after = cur.Modified.Add(-e.set.overlap)
	}

	var (
		found      []discovered
		maxSeen    time.Time
		catalogAll bool
	)
	if repos := layout.aqlRepos(); len(repos) > 0 && !layout.aqlDenied {
		imgs, err := in.client.FindManifests(ctx, artifactory.ManifestQuery{Repositories: repos, ModifiedAfter: after})
		switch {
		case err == nil:
			for _, img := range imgs {
				if img.Modified.After(maxSeen) {
					maxSeen = img.Modified
				}
				if key, ok := layout.aql[img.Repository]; ok && key != img.Repository {
					img.Repository = key
					img.Reference = artifactory.ImageReference(in.client.Endpoints().RegistryHost, key, img.Name, img.Tag)
				}
				if !in.filters.Match(img.Repository, img.Name, img.Tag) {
					continue
				}
				// Scout semantics: without a backfill, nothing modified before the first start.
				eligible := from != nil || img.Modified.After(cur.Started)
				found = append(found, discovered{img: img, eligible: eligible})
			}
		case aqlRefused(err):
			in.log.Warn("AQL refused; listing through the Docker API (each poll then costs requests per tag)", "error", err)
			layout.aqlDenied, layout.deniedAt = true, e.set.clock()
			catalogAll = true
		default:
			return fmt.Errorf("find manifests: %w", err)
		}
	} else if layout.aqlDenied {
		catalogAll = true
	}

	catalogKeys := layout.catalog
	if catalogAll {
		catalogKeys = append(layout.catalogKeysAll(), layout.catalog...)
	}
	if len(catalogKeys) > 0 {
		listed, err := e.listCatalog(ctx, in, catalogKeys, from, firstStart)
		if err != nil {
			return err
		}
		found = append(found, listed...)
	}

	ensured, created := 0, 0
	for _, d := range found {
		if d.img.Digest == "" {
			in.log.Warn("manifest without digest skipped", "repository", d.img.Repository, "image", d.img.Name, "tag", d.img.Tag)
			continue
		}
		n, err := e.record(ctx, in, d)
		if err != nil {
			return err
		}
		if d.eligible {
			ensured++
		}
		created += n
	}

	if maxSeen.After(cur.Modified) || firstStart {
		next := cur
		if maxSeen.After(next.Modified) {
			next.Modified = maxSeen
		}
		next.Seen = nil
		if err := e.store.SaveCursor(ctx, in.name, next); err != nil {
			return err
		}
	}
	if now := maxTime(cur.Modified, maxSeen); !now.Equal(in.cursorMod) {
		in.cursorMod, in.cursorSince = now, e.set.clock()
	}
	if created > 0 {
		e.notify()
	}
	if m := e.set.metrics; m != nil {
		m.ImagesDiscovered(in.name, created)
	}
	in.log.Debug("discovery done", "listed", len(found), "eligible", ensured, "new_analyses", created,
		"cursor", maxTime(cur.Modified, maxSeen).UTC().Format(time.RFC3339Nano), "took", e.set.clock().Sub(start).Round(time.Millisecond))
	if created > 0 {
		in.log.Info("new images queued", "count", created)
	}
	return nil
}

// catalogKeysAll returns the AQL-searched keys by their configured names.
func (l *repoLayout) catalogKeysAll() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range l.aqlRepos() {
		k := l.aql[r]
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// listCatalog lists keys through the Docker API and decides eligibility by
// comparing tag digests with the store: a new or moved tag is eligible, except
// on the very first listing without a backfill (Scout semantics).
func (e *Engine) listCatalog(ctx context.Context, in *integration, keys []string, from *time.Time, firstStart bool) ([]discovered, error) {
	imgs, err := in.client.ListImages(ctx, keys, artifactory.ListImagesOptions{Filters: in.cfg.ImageFilters, Method: artifactory.MethodCatalog})
	if err != nil {
		return nil, fmt.Errorf("list through the Docker API: %w", err)
	}
	stored, err := e.store.Tags(ctx, in.name)
	if err != nil {
		return nil, err
	}
	type tagKey struct{ repo, image, tag string }
	known := make(map[tagKey]string, len(stored))
	for _, t := range stored {
		known[tagKey{t.Repository, t.Image, t.Tag}] = t.Digest
	}
	out := make([]discovered, 0, len(imgs))
	for _, img := range imgs {
		var eligible bool
		switch {
		case from != nil:
			eligible = img.Modified.IsZero() || !img.Modified.Before(*from)
		case firstStart:
			eligible = false
		default:
			eligible = known[tagKey{img.Repository, img.Name, img.Tag}] != img.Digest
		}
		out = append(out, discovered{img: img, eligible: eligible})
	}
	return out, nil
}

// record stores one listed tag and, when eligible, makes sure its digest is
// analysed (or re-analysed with --force). It returns 1 when a new analysis was
// queued. A new tag of a digest already analysed re-delivers its metadata so
// outputs list the new tag.
func (e *Engine) record(ctx context.Context, in *integration, d discovered) (int, error) {
	img := d.img
	changed, err := e.store.UpsertTag(ctx, store.Tag{
		Integration: in.name,
		Repository:  img.Repository,
		Image:       img.Name,
		Tag:         img.Tag,
		Digest:      img.Digest,
		MediaType:   img.MediaType,
		Reference:   img.Reference,
		Modified:    img.Modified,
	})
	if err != nil {
		return 0, err
	}
	if !d.eligible {
		return 0, nil
	}
	ref := artifactory.ImageReference(in.client.Endpoints().RegistryHost, img.Repository, img.Name, img.Digest)
	created, err := e.store.EnsureAnalysis(ctx, store.Analysis{Digest: img.Digest, MediaType: img.MediaType, Reference: ref})
	if err != nil {
		return 0, err
	}
	if created {
		e.progress.markReset(img.Digest) // queued fresh: --force has nothing to reset
		e.progress.add(1)
		return 1, nil
	}
	if e.force && e.progress.markReset(img.Digest) {
		if err := e.store.ResetAnalysis(ctx, img.Digest); err != nil {
			return 0, err
		}
		e.progress.add(1)
		return 1, nil
	}
	if changed {
		// A promotion or a new tag: analysed once, but outputs must learn the tag.
		if err := e.redeliver(ctx, img.Digest); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// redeliver enqueues the stored result of digest (and of its platform manifests)
// for every output again, if it has one.
func (e *Engine) redeliver(ctx context.Context, digest string) error {
	a, ok, err := e.store.Get(ctx, digest)
	if err != nil || !ok || a.Status != store.StatusDone {
		return err
	}
	digests := []string{digest}
	children, err := e.store.Platforms(ctx, digest)
	if err != nil {
		return err
	}
	for _, c := range children {
		if c.Status == store.StatusDone {
			digests = append(digests, c.Digest)
		}
	}
	for _, d := range digests {
		if _, ok, err := e.store.Result(ctx, d); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		for _, o := range e.outNames {
			if err := e.store.EnqueueDelivery(ctx, o, d); err != nil {
				return err
			}
		}
	}
	e.notify()
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
