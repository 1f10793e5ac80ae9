// Package inventory builds the engine's inventory view: one row per tag, with
// the platforms of the image it points at, the image's combined status, its
// package count and where its SBOMs are. The inventory API (/api/v1/images)
// and the `imagewatch-engine images` command both render these rows, so they
// always agree.
package inventory

import (
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/api"

	"context"
	"fmt"
	"os"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/output"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// StatusDiscovered is the status of a tag whose digest has no analysis yet.
const StatusDiscovered = "discovered"

// Statuses are the row statuses, in pipeline order: the accepted status filters.
var Statuses = []string{StatusDiscovered, store.StatusPending, store.StatusRunning, store.StatusDone, store.StatusSkipped, store.StatusFailed}

// Source lists the platform manifests of an index (*store.Store implements it).
type Source interface {
	Platforms(ctx context.Context, index string) ([]store.Analysis, error)
}

// Locator says where the SBOMs of an analysed manifest digest are: format name
// ("cyclonedx-json") -> path or URL; empty when there are none (yet).
type Locator func(ctx context.Context, digest string) (map[string]string, error)

// Row is one tag and the image it points at.
type Row struct {
	Tag store.Tag
	// Analysis is the tagged digest's own analysis (for a multi-platform image,
	// the index's); zero when Analyzed is false.
	Analysis store.Analysis
	Analyzed bool
	// MediaType is the tag's media type, else the analysis's.
	MediaType string
	// Index is true for a multi-platform image (OCI index or Docker manifest list).
	Index bool
	// Status is the image's status (see IndexStatus for a multi-platform
	// image), or StatusDiscovered before its digest is analysed.
	Status string
	// FailureReason is the last error of the analysis, or, when the index has
	// none, "<platform>: <error>" of the first platform in the image's Status
	// with one (the platform that makes a multi-platform image failed).
	FailureReason string
	// PackageCount is the image's, summed over the platforms of an index.
	PackageCount int
	// Platforms are the index's platform manifests in platform order, or the
	// single-platform image itself once its platform is known. Never nil.
	Platforms []Platform
	// SBOMs locates a done single-platform image's SBOMs; an index has none of
	// its own (each platform has). Never nil.
	SBOMs map[string]string
}

// Platform is one platform manifest of an image.
type Platform struct {
	Analysis store.Analysis // Platform is os/architecture[/variant]
	SBOMs    map[string]string
}

type builder struct {
	src    Source
	locate Locator
	status string

	platforms map[string][]store.Analysis  // by index digest: the tags of one index share them
	sboms     map[string]map[string]string // by digest
}

// Option configures Rows.
type Option func(*builder)

// WithSBOMLocator fills the SBOM locations of done manifests from locate.
func WithSBOMLocator(locate Locator) Option { return func(b *builder) { b.locate = locate } }

// WithStatus keeps only the rows whose (combined) Status is status; "" keeps all.
func WithStatus(status string) Option { return func(b *builder) { b.status = status } }

func newBuilder(src Source, opts []Option) *builder {
	b := &builder{src: src, platforms: map[string][]store.Analysis{}, sboms: map[string]map[string]string{}}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Rows builds the rows of items (store.Inventory's answer), in their order.
// src may be nil: indexes are then listed without platforms.
func Rows(ctx context.Context, src Source, items []store.InventoryItem, opts ...Option) ([]Row, error) {
	b := newBuilder(src, opts)
	out := make([]Row, 0, len(items))
	for _, it := range items {
		r, err := b.summary(ctx, it)
		if err != nil {
			return nil, err
		}
		if b.status != "" && r.Status != b.status {
			continue
		}
		if err := b.locateAll(ctx, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Filter returns the items whose row Status is status, in their order. It
// locates no SBOMs, so a large inventory can be filtered before the rows of
// one page are built with Rows.
func Filter(ctx context.Context, src Source, items []store.InventoryItem, status string) ([]store.InventoryItem, error) {
	b := newBuilder(src, nil)
	out := make([]store.InventoryItem, 0, len(items))
	for _, it := range items {
		r, err := b.summary(ctx, it)
		if err != nil {
			return nil, err
		}
		if status == "" || r.Status == status {
			out = append(out, it)
		}
	}
	return out, nil
}

// summary builds the row of it without SBOM locations.
func (b *builder) summary(ctx context.Context, it store.InventoryItem) (Row, error) {
	t, a := it.Tag, it.Analysis
	r := Row{
		Tag: t, Analysis: a, Analyzed: it.Analyzed, MediaType: t.MediaType,
		Index:     IsIndex(t.MediaType) || (it.Analyzed && IsIndex(a.MediaType)),
		Status:    StatusDiscovered,
		Platforms: []Platform{},
		SBOMs:     map[string]string{},
	}
	if !it.Analyzed {
		return r, nil
	}
	if r.MediaType == "" {
		r.MediaType = a.MediaType
	}
	if r.Analysis.Digest == "" {
		r.Analysis.Digest = t.Digest
	}
	r.Status, r.PackageCount, r.FailureReason = a.Status, a.PackageCount, a.Error
	if !r.Index {
		if a.Platform != "" {
			r.Platforms = append(r.Platforms, Platform{Analysis: r.Analysis, SBOMs: map[string]string{}})
		}
		return r, nil
	}
	ps, err := b.platformsOf(ctx, t.Digest)
	if err != nil {
		return Row{}, err
	}
	for _, p := range ps {
		r.Platforms = append(r.Platforms, Platform{Analysis: p, SBOMs: map[string]string{}})
		r.PackageCount += p.PackageCount
	}
	r.Status = IndexStatus(a.Status, ps)
	for _, p := range ps {
		if r.FailureReason != "" {
			break
		}
		if p.Status == r.Status && p.Error != "" {
			r.FailureReason = p.Platform + ": " + p.Error
		}
	}
	return r, nil
}

// locateAll fills the SBOM locations of r and its platforms.
func (b *builder) locateAll(ctx context.Context, r *Row) error {
	if !r.Analyzed {
		return nil
	}
	if !r.Index {
		m, err := b.sbomsOf(ctx, r.Analysis)
		if err != nil {
			return err
		}
		r.SBOMs = m
	}
	for i := range r.Platforms {
		m, err := b.sbomsOf(ctx, r.Platforms[i].Analysis)
		if err != nil {
			return err
		}
		r.Platforms[i].SBOMs = m
	}
	return nil
}

func (b *builder) platformsOf(ctx context.Context, index string) ([]store.Analysis, error) {
	if ps, ok := b.platforms[index]; ok {
		return ps, nil
	}
	var ps []store.Analysis
	if b.src != nil {
		var err error
		if ps, err = b.src.Platforms(ctx, index); err != nil {
			return nil, err
		}
	}
	b.platforms[index] = ps
	return ps, nil
}

// sbomsOf locates a's SBOMs; only a done analysis has any.
func (b *builder) sbomsOf(ctx context.Context, a store.Analysis) (map[string]string, error) {
	if b.locate == nil || a.Status != store.StatusDone || a.Digest == "" {
		return map[string]string{}, nil
	}
	if m, ok := b.sboms[a.Digest]; ok {
		return m, nil
	}
	found, err := b.locate(ctx, a.Digest)
	if err != nil {
		return nil, fmt.Errorf("inventory: locate the SBOMs of %s: %w", a.Digest, err)
	}
	m := make(map[string]string, len(found))
	for f, where := range found {
		m[f] = where
	}
	b.sboms[a.Digest] = m
	return m, nil
}

// IndexStatus is the status of a multi-platform image whose index has status
// own: the most urgent of the index's (until it is done) and its platforms' —
// failed, then running, then pending; otherwise done, unless every platform
// was skipped (not a container image), which makes the image skipped. So an
// image is done only once every platform is done or skipped and at least one
// is done; a done index that lists no platform is done.
func IndexStatus(own string, platforms []store.Analysis) string {
	statuses := make(map[string]bool, 5)
	if own != store.StatusDone {
		statuses[own] = true
	}
	for _, p := range platforms {
		statuses[p.Status] = true
	}
	for _, s := range []string{store.StatusFailed, store.StatusRunning, store.StatusPending} {
		if statuses[s] {
			return s
		}
	}
	if (own == store.StatusDone && len(platforms) == 0) || statuses[store.StatusDone] {
		return store.StatusDone
	}
	return store.StatusSkipped
}

// IsIndex reports whether mediaType is a multi-platform index.
func IsIndex(mediaType string) bool {
	return mediaType == artifactory.MediaTypeOCIIndex || mediaType == artifactory.MediaTypeDockerManifestList
}

// Deliveries is the delivery state Directory reads (*store.Store implements it).
type Deliveries interface {
	Delivery(ctx context.Context, output, digest string) (store.Delivery, bool, error)
}

// Directory locates results in a directory output: a digest's folder and
// SBOM files exist once its delivery there succeeded.
type Directory struct {
	out        *output.Directory
	formats    []string
	deliveries Deliveries
}

// NewDirectory locates the SBOMs of formats (the engine's sbom_formats) in out,
// reading delivery state from deliveries.
func NewDirectory(out *output.Directory, formats []string, deliveries Deliveries) *Directory {
	return &Directory{out: out, formats: formats, deliveries: deliveries}
}

// Folder is digest's folder in the output, <path>/<algorithm>/<hex>/ (with the
// trailing separator), once delivered there; "" before.
func (d *Directory) Folder(ctx context.Context, digest string) (string, error) {
	ok, err := d.delivered(ctx, digest)
	if err != nil || !ok {
		return "", err
	}
	return d.out.PathFor(digest) + string(os.PathSeparator), nil
}

// SBOMs is a Locator: the SBOM files of digest once delivered; none before.
func (d *Directory) SBOMs(ctx context.Context, digest string) (map[string]string, error) {
	ok, err := d.delivered(ctx, digest)
	if err != nil || !ok {
		return nil, err
	}
	return d.out.SBOMPaths(digest, d.formats), nil
}

func (d *Directory) delivered(ctx context.Context, digest string) (bool, error) {
	dl, ok, err := d.deliveries.Delivery(ctx, d.out.Name(), digest)
	if err != nil {
		return false, err
	}
	return ok && dl.Status == store.DeliveryDelivered, nil
}

// API is the row as the inventory API (and the images command's --json) serves it.
func (r Row) API() api.Image {
	t, a := r.Tag, r.Analysis
	img := api.Image{
		Integration: t.Integration,
		Repository:  t.Repository,
		Image:       t.Image,
		Tag:         t.Tag,
		Digest:      t.Digest,
		MediaType:   r.MediaType,
		Reference:   t.Reference,
		Status:      r.Status,
		Modified:    timePtr(t.Modified),
		FirstSeen:   timePtr(t.FirstSeen),
		LastSeen:    timePtr(t.LastSeen),
		Platforms:   make([]api.Platform, 0, len(r.Platforms)),
		SBOMs:       r.SBOMs,
	}
	if !r.Analyzed {
		return img
	}
	img.FailureReason = r.FailureReason
	img.SkipReason = a.Reason
	img.Attempts = a.Attempts
	img.PackageCount = r.PackageCount
	img.AnalyzedAt = timePtr(a.AnalyzedAt)
	if a.Status == store.StatusPending || a.Status == store.StatusFailed {
		img.NextAttempt = timePtr(a.NextAttempt)
	}
	for _, p := range r.Platforms {
		img.Platforms = append(img.Platforms, api.Platform{
			Platform:      p.Analysis.Platform,
			Digest:        p.Analysis.Digest,
			Status:        p.Analysis.Status,
			FailureReason: p.Analysis.Error,
			SkipReason:    p.Analysis.Reason,
			PackageCount:  p.Analysis.PackageCount,
			AnalyzedAt:    timePtr(p.Analysis.AnalyzedAt),
			SBOMs:         p.SBOMs,
		})
	}
	return img
}

// timePtr is t in UTC, or nil (JSON null) when t is zero.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
