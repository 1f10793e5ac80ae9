// Package output delivers analysis results (metadata.json plus SBOM documents) to
// where operators want them: a directory, an HTTP endpoint or Dependency-Track.
//
// Delivery is at-least-once, so every output is idempotent by digest: delivering
// the same artifact twice leaves the destination as after one delivery. Payloads
// carry metadata and SBOMs only, never image layer or file bytes.
//
// The package does not import the analyzer: an Artifact carries metadata.json as
// encoded JSON (the schema of analyze.Metadata, DESIGN.md). That is also the form
// the store keeps results in, so a delivery retried after a restart hands the
// stored bytes straight back without decoding them into analyzer types. Outputs
// read the few fields they need (digest, media_type, platform, tags) from it.
package output

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Output is one destination of results.
type Output interface {
	// Name identifies the output in the store's delivery table; stable for one
	// configuration and free of secrets, e.g. "http:https://inventory.internal/v1/images".
	Name() string
	// Deliver sends a; idempotent by digest.
	Deliver(ctx context.Context, a Artifact) error
}

// SBOM format names (sbom_formats in the engine config).
const (
	FormatCycloneDXJSON = "cyclonedx-json"
	FormatSPDXJSON      = "spdx-json"
	FormatSyftJSON      = "syft-json"
)

// sbomFileNames maps a format to its file name in the directory layout.
var sbomFileNames = map[string]string{
	FormatCycloneDXJSON: "sbom.cdx.json",
	FormatSPDXJSON:      "sbom.spdx.json",
	FormatSyftJSON:      "sbom.syft.json",
}

// SBOMFileName is the file name of format's SBOM in the directory layout
// ("sbom.cdx.json" for cyclonedx-json); false for an unknown format.
func SBOMFileName(format string) (string, bool) {
	n, ok := sbomFileNames[format]
	return n, ok
}

// MetadataFile is the name of the metadata document in the directory layout.
const MetadataFile = "metadata.json"

// Artifact is what one analysed manifest produced.
type Artifact struct {
	// Metadata is the metadata.json document (analyze.Metadata encoded, tags filled).
	Metadata json.RawMessage
	// SBOMs maps a format name to its encoded document; empty for an index or a
	// skipped artifact.
	SBOMs map[string][]byte
	// Parent is the index digest when this is one platform of a multi-platform
	// image (store.Analysis.Parent); empty otherwise.
	Parent string
}

// NewArtifact encodes metadata (an analyze.Metadata, or already-encoded JSON as
// []byte / json.RawMessage) and checks that it carries a valid digest.
func NewArtifact(metadata any, sboms map[string][]byte) (Artifact, error) {
	var raw json.RawMessage
	switch m := metadata.(type) {
	case json.RawMessage:
		raw = m
	case []byte:
		raw = m
	default:
		b, err := json.Marshal(metadata)
		if err != nil {
			return Artifact{}, fmt.Errorf("output: encode metadata: %w", err)
		}
		raw = b
	}
	a := Artifact{Metadata: raw, SBOMs: sboms}
	if _, err := a.Header(); err != nil {
		return Artifact{}, err
	}
	return a, nil
}

// TagRef is one tag pointing at the artifact, as metadata.json lists it.
type TagRef struct {
	Repository string `json:"repository"`
	Image      string `json:"image"`
	Tag        string `json:"tag"`
	Reference  string `json:"reference"` // <registry-host>/<repository>/<image>:<tag>
}

// RegistryHost is the host[:port] part of Reference.
func (t TagRef) RegistryHost() (string, error) {
	for _, suffix := range []string{"/" + t.Repository + "/" + t.Image + ":" + t.Tag, "/" + t.Repository + "/" + t.Image + "@" + t.Tag} {
		if host, ok := strings.CutSuffix(t.Reference, suffix); ok && host != "" && !strings.Contains(host, "/") {
			return host, nil
		}
	}
	return "", fmt.Errorf("tag reference %q is not <registry-host>/%s/%s:%s", t.Reference, t.Repository, t.Image, t.Tag)
}

// Platform as metadata.json records it.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p Platform) String() string {
	if p.OS == "" && p.Architecture == "" {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Header is the part of metadata.json outputs use.
type Header struct {
	Digest    string   `json:"digest"`
	MediaType string   `json:"media_type"`
	Platform  Platform `json:"platform"`
	Tags      []TagRef `json:"tags"`
}

var digestPattern = regexp.MustCompile(`^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`)

// Header decodes and checks the fields outputs rely on. The digest is validated
// strictly because the directory output turns it into a path.
func (a Artifact) Header() (Header, error) {
	var h Header
	if len(a.Metadata) == 0 {
		return Header{}, permanent(errors.New("output: artifact has no metadata"))
	}
	if err := json.Unmarshal(a.Metadata, &h); err != nil {
		return Header{}, permanent(fmt.Errorf("output: metadata is not a JSON object with digest and tags: %w", err))
	}
	if !digestPattern.MatchString(h.Digest) {
		return Header{}, permanent(fmt.Errorf("output: metadata digest %q is not a sha256/sha512 digest", h.Digest))
	}
	if a.Parent != "" && !digestPattern.MatchString(a.Parent) {
		return Header{}, permanent(fmt.Errorf("output: parent digest %q is not a sha256/sha512 digest", a.Parent))
	}
	return h, nil
}

// Error is a delivery failure reported by a remote output. It never contains a
// token or API key.
type Error struct {
	Output     string // output name
	Method     string
	URL        string // scheme://host/path, no credentials or query
	StatusCode int    // 0 when no response arrived
	Message    string // short excerpt of the response body, or the transport error
	Attempts   int    // requests made, including retries (0 if unknown)
	Hint       string // what to do, when known

	err     error
	secrets []string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: ", e.Output, e.Method, e.URL)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "%d", e.StatusCode)
		if e.Message != "" {
			b.WriteString(" " + e.Message)
		}
	} else {
		b.WriteString(e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if e.Hint != "" {
		b.WriteString(": " + e.Hint)
	}
	return redact(b.String(), e.secrets)
}

func (e *Error) Unwrap() error { return e.err }

// Permanent reports whether retrying the same request cannot succeed: the
// destination rejected the payload itself (400, 413, 415, 422). Authentication,
// authorisation, not-found and server errors are not permanent: they are output
// wide and heal once the operator fixes the configuration or the server recovers.
func (e *Error) Permanent() bool {
	switch e.StatusCode {
	case 400, 413, 415, 422:
		return true
	}
	return false
}

type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

func permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err means the delivery of this artifact will never
// succeed as is (invalid artifact, missing SBOM format, payload rejected): the
// caller should record a terminal failure instead of retrying.
func IsPermanent(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

// StatusCode returns the HTTP status of a delivery error, 0 if none.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "REDACTED")
		}
	}
	return s
}

// validateSBOMs checks every format is known and every document is JSON.
func validateSBOMs(sboms map[string][]byte) error {
	for format, body := range sboms {
		if _, ok := sbomFileNames[format]; !ok {
			return permanent(fmt.Errorf("output: unknown SBOM format %q (known: cyclonedx-json, spdx-json, syft-json)", format))
		}
		if !json.Valid(body) {
			return permanent(fmt.Errorf("output: %s SBOM is not valid JSON", format))
		}
	}
	return nil
}
