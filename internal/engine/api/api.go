// Package api is the JSON of the engine's HTTP API, shared by the server (internal/engine/server)
// and its clients (the provider's imagewatch_engine_images data source), so both read one
// definition. It imports nothing heavier than the standard library, so a client does not pull
// in the store.
package api

import "time"

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
	// Status is the image's status (pending, running, done, skipped, failed),
	// or "discovered" before an analysis exists. A multi-platform image is
	// done once every platform is (skipped ones aside), else in the most
	// urgent state of its index and platforms: failed, running, pending. Each
	// platform has its own in Platforms. ?status= filters on it.
	Status string `json:"status"`
	// FailureReason is the last error (failed, or pending a retry); for a
	// multi-platform image, "<platform>: <error>" when a platform has it.
	FailureReason string `json:"failure_reason"`
	SkipReason    string `json:"skip_reason"` // why it is not a container image
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

// Error is the body of every JSON error: the message, and the query parameter or payload field
// at fault when there is one.
type Error struct {
	Error     string `json:"error"`
	Parameter string `json:"parameter,omitempty"`
}
