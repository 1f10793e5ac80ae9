package server

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// Inventory paging bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// StatusDiscovered is the status of a tag whose digest has no analysis row yet.
const StatusDiscovered = "discovered"

// filterStatuses are the accepted values of ?status= (the store's statuses).
var filterStatuses = []string{store.StatusPending, store.StatusRunning, store.StatusDone, store.StatusSkipped, store.StatusFailed}

// inventoryParams are the accepted query parameters; anything else is a 400 so a
// typo ("statu=failed") cannot silently return everything.
var inventoryParams = []string{"integration", "repository", "image", "tag", "status", "limit", "offset"}

// ImagesResponse is the body of GET /api/v1/images.
type ImagesResponse struct {
	Images []Image `json:"images"`
	// NextOffset is the offset of the next page, or null on the last page.
	NextOffset *int `json:"next_offset"`
	Limit      int  `json:"limit"`
	Offset     int  `json:"offset"`
}

// Image is one tag and the analysis of the digest it points at.
type Image struct {
	Integration string `json:"integration"`
	Repository  string `json:"repository"`
	Image       string `json:"image"`
	Tag         string `json:"tag"`
	Digest      string `json:"digest"`
	MediaType   string `json:"media_type"`
	Reference   string `json:"reference"`
	// Status is the analysis status of Digest (pending, running, done, skipped,
	// failed), or "discovered" before an analysis exists. For an index it is the
	// index's own status; each platform has its own in Platforms.
	Status        string `json:"status"`
	FailureReason string `json:"failure_reason"` // last error (failed, or pending a retry)
	SkipReason    string `json:"skip_reason"`    // why it is not a container image
	Attempts      int    `json:"attempts"`
	// PackageCount is the manifest's package count; for an index, the sum over
	// its analysed platforms.
	PackageCount int               `json:"package_count"`
	AnalyzedAt   *time.Time        `json:"analyzed_at"`
	NextAttempt  *time.Time        `json:"next_attempt,omitempty"` // when a retry is due
	Modified     *time.Time        `json:"modified"`               // Artifactory's last-modified of the manifest
	FirstSeen    *time.Time        `json:"first_seen"`
	LastSeen     *time.Time        `json:"last_seen"`
	Platforms    []Platform        `json:"platforms"`
	SBOMs        map[string]string `json:"sboms"` // format -> path or URL (single-platform images)
}

// Platform is one platform manifest of an image.
type Platform struct {
	Platform      string            `json:"platform"` // os/architecture[/variant]
	Digest        string            `json:"digest"`
	Status        string            `json:"status"`
	FailureReason string            `json:"failure_reason"`
	SkipReason    string            `json:"skip_reason"`
	PackageCount  int               `json:"package_count"`
	AnalyzedAt    *time.Time        `json:"analyzed_at"`
	SBOMs         map[string]string `json:"sboms"`
}

type inventoryQuery struct {
	filter store.ListFilter
	tag    string
	limit  int
	offset int
}

// parseInventoryQuery validates the query; a failure names the parameter.
func parseInventoryQuery(q url.Values) (inventoryQuery, string, string) {
	iq := inventoryQuery{limit: DefaultLimit}
	for name, vals := range q {
		if !slices.Contains(inventoryParams, name) {
			return iq, name, "unknown parameter " + strconv.Quote(name) + ": use " + strings.Join(inventoryParams, ", ")
		}
		if len(vals) > 1 {
			return iq, name, "parameter " + strconv.Quote(name) + " is given more than once: give it once"
		}
	}
	iq.filter.Integration = q.Get("integration")
	if r := q.Get("repository"); r != "" {
		if err := artifactory.ValidRepositoryKey(r); err != nil {
			return iq, "repository", err.Error()
		}
		iq.filter.Repository = r
	}
	iq.filter.Image = strings.Trim(q.Get("image"), "/")
	iq.tag = q.Get("tag")
	if st := q.Get("status"); st != "" {
		if !slices.Contains(filterStatuses, st) {
			return iq, "status", "status " + strconv.Quote(st) + " is not one of " + strings.Join(filterStatuses, ", ")
		}
		iq.filter.Status = st
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return iq, "limit", "limit " + strconv.Quote(v) + " must be an integer from 1 to " + strconv.Itoa(MaxLimit)
		}
		iq.limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return iq, "offset", "offset " + strconv.Quote(v) + " must be a non-negative integer (the next_offset of the previous page)"
		}
		iq.offset = n
	}
	return iq, "", ""
}

func (s *Server) images(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if s.inventory == nil {
		writeError(w, http.StatusServiceUnavailable, "", "the inventory is not available yet (the store is not open)")
		return
	}
	iq, param, msg := parseInventoryQuery(r.URL.Query())
	if msg != "" {
		writeError(w, http.StatusBadRequest, param, msg)
		return
	}
	ctx := r.Context()

	// One row more than the page tells whether a next page exists.
	f := iq.filter
	if iq.tag == "" {
		f.Limit, f.Offset = iq.limit+1, iq.offset
	}
	items, err := s.inventory.Inventory(ctx, f)
	if err != nil {
		s.log.Error("inventory query failed", "error", err)
		writeError(w, http.StatusInternalServerError, "", "the inventory query failed; see the engine log")
		return
	}
	if iq.tag != "" {
		// The store cannot filter by tag: filter here, then page.
		items = slices.DeleteFunc(items, func(it store.InventoryItem) bool { return it.Tag.Tag != iq.tag })
		items = items[min(iq.offset, len(items)):]
		items = items[:min(iq.limit+1, len(items))]
	}
	resp := ImagesResponse{Images: make([]Image, 0, min(len(items), iq.limit)), Limit: iq.limit, Offset: iq.offset}
	if len(items) > iq.limit {
		next := iq.offset + iq.limit
		resp.NextOffset = &next
		items = items[:iq.limit]
	}

	lister, _ := s.inventory.(PlatformLister)
	platforms := map[string][]Platform{} // by index digest: tags of one index share the lookup
	for _, it := range items {
		img := s.image(it)
		if lister != nil && it.Analyzed && isIndex(it) {
			ps, ok := platforms[it.Tag.Digest]
			if !ok {
				children, err := lister.Platforms(ctx, it.Tag.Digest)
				if err != nil {
					s.log.Error("inventory platforms query failed", "digest", it.Tag.Digest, "error", err)
					writeError(w, http.StatusInternalServerError, "", "the inventory query failed; see the engine log")
					return
				}
				ps = make([]Platform, 0, len(children))
				for _, c := range children {
					ps = append(ps, s.platform(c))
				}
				platforms[it.Tag.Digest] = ps
			}
			img.Platforms = ps
			if img.PackageCount == 0 {
				for _, p := range ps {
					img.PackageCount += p.PackageCount
				}
			}
		}
		resp.Images = append(resp.Images, img)
	}
	writeJSON(w, http.StatusOK, resp)
}

func isIndex(it store.InventoryItem) bool {
	for _, mt := range []string{it.Analysis.MediaType, it.Tag.MediaType} {
		if mt == artifactory.MediaTypeOCIIndex || mt == artifactory.MediaTypeDockerManifestList {
			return true
		}
	}
	return false
}

func (s *Server) image(it store.InventoryItem) Image {
	t, a := it.Tag, it.Analysis
	img := Image{
		Integration: t.Integration,
		Repository:  t.Repository,
		Image:       t.Image,
		Tag:         t.Tag,
		Digest:      t.Digest,
		MediaType:   t.MediaType,
		Reference:   t.Reference,
		Status:      StatusDiscovered,
		Modified:    timePtr(t.Modified),
		FirstSeen:   timePtr(t.FirstSeen),
		LastSeen:    timePtr(t.LastSeen),
		Platforms:   []Platform{},
		SBOMs:       map[string]string{},
	}
	if !it.Analyzed {
		return img
	}
	if img.MediaType == "" {
		img.MediaType = a.MediaType
	}
	img.Status = a.Status
	img.FailureReason = a.Error
	img.SkipReason = a.Reason
	img.Attempts = a.Attempts
	img.PackageCount = a.PackageCount
	img.AnalyzedAt = timePtr(a.AnalyzedAt)
	if a.Status == store.StatusPending || a.Status == store.StatusFailed {
		img.NextAttempt = timePtr(a.NextAttempt)
	}
	if !isIndex(it) {
		if a.Platform != "" {
			p := s.platform(a)
			p.Digest = t.Digest
			img.Platforms = append(img.Platforms, p)
		}
		img.SBOMs = s.locate(a)
	}
	return img
}

func (s *Server) platform(a store.Analysis) Platform {
	return Platform{
		Platform:      a.Platform,
		Digest:        a.Digest,
		Status:        a.Status,
		FailureReason: a.Error,
		SkipReason:    a.Reason,
		PackageCount:  a.PackageCount,
		AnalyzedAt:    timePtr(a.AnalyzedAt),
		SBOMs:         s.locate(a),
	}
}

// locate returns where a's SBOMs are; only a done analysis has any.
func (s *Server) locate(a store.Analysis) map[string]string {
	out := map[string]string{}
	if s.sboms == nil || a.Status != store.StatusDone || a.Digest == "" {
		return out
	}
	for format, where := range s.sboms(a.Digest) {
		out[format] = where
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
