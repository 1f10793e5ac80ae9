package server

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/api"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/inventory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
)

// Inventory paging bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// StatusDiscovered is the status of a tag whose digest has no analysis row yet.
const StatusDiscovered = inventory.StatusDiscovered

// filterStatuses are the accepted values of ?status=: the rows' statuses.
var filterStatuses = inventory.Statuses

// inventoryParams are the accepted query parameters; anything else is a 400 so a
// typo ("statu=failed") cannot silently return everything.
var inventoryParams = []string{"integration", "repository", "image", "tag", "status", "limit", "offset"}

// The response types live in package api, shared with the API's clients.
type (
	ImagesResponse = api.ImagesResponse
	Image          = api.Image
	Platform       = api.Platform
)

type inventoryQuery struct {
	filter store.ListFilter // tag fields only: status is the row's, filtered by inventory.Filter
	tag    string
	status string
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
		iq.status = st
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
	var src inventory.Source
	if lister, ok := s.inventory.(PlatformLister); ok {
		src = lister
	}

	// One row more than the page tells whether a next page exists. The store
	// pages unless the tag or the row status filters: those need every row.
	f := iq.filter
	scan := iq.tag != "" || iq.status != ""
	if !scan {
		f.Limit, f.Offset = iq.limit+1, iq.offset
	}
	items, err := s.inventory.Inventory(ctx, f)
	if err == nil && scan {
		if iq.tag != "" {
			items = slices.DeleteFunc(items, func(it store.InventoryItem) bool { return it.Tag.Tag != iq.tag })
		}
		if iq.status != "" {
			items, err = inventory.Filter(ctx, src, items, iq.status)
		}
		items = items[min(iq.offset, len(items)):]
		items = items[:min(iq.limit+1, len(items))]
	}
	if err != nil {
		s.inventoryFailed(w, err)
		return
	}
	resp := ImagesResponse{Images: make([]Image, 0, min(len(items), iq.limit)), Limit: iq.limit, Offset: iq.offset}
	if len(items) > iq.limit {
		next := iq.offset + iq.limit
		resp.NextOffset = &next
		items = items[:iq.limit]
	}
	rows, err := inventory.Rows(ctx, src, items, inventory.WithSBOMLocator(s.locate))
	if err != nil {
		s.inventoryFailed(w, err)
		return
	}
	for _, row := range rows {
		resp.Images = append(resp.Images, row.API())
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) inventoryFailed(w http.ResponseWriter, err error) {
	s.log.Error("inventory query failed", "error", err)
	writeError(w, http.StatusInternalServerError, "", "the inventory query failed; see the engine log")
}

// locate is the inventory.Locator of the configured SBOM locator.
func (s *Server) locate(ctx context.Context, digest string) (map[string]string, error) {
	switch {
	case s.locator != nil:
		return s.locator(ctx, digest)
	case s.sboms != nil:
		return s.sboms(digest), nil
	}
	return nil, nil
}
