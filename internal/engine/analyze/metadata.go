package analyze

import (
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Metadata is the metadata.json record of one analysed manifest (DESIGN.md). Tags are filled by the engine
// from its store before output.
type Metadata struct {
	Digest       string            `json:"digest"`
	MediaType    string            `json:"media_type"`
	Platform     Platform          `json:"platform"`
	Tags         []TagRef          `json:"tags"`
	Created      *time.Time        `json:"created,omitempty"`
	Source       Source            `json:"source"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"` // manifest annotations
	History      []History         `json:"history"`
	Layers       []Layer           `json:"layers"`
	BaseImage    *BaseImage        `json:"base_image,omitempty"`
	PackageCount int               `json:"package_count"`
	Packages     []PackageLayer    `json:"packages"`
	Platforms    []PlatformRef     `json:"platforms,omitempty"` // only for an index
	AnalyzedAt   time.Time         `json:"analyzed_at"`
}

// Platform of an image, from its config.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
	OSVersion    string `json:"os_version,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func platformFrom(p *v1.Platform) Platform {
	if p == nil {
		return Platform{}
	}
	return Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion}
}

// TagRef is one tag pointing at the digest.
type TagRef struct {
	Repository string `json:"repository"`
	Image      string `json:"image"`
	Tag        string `json:"tag"`
	Reference  string `json:"reference"`
}

// Source is where the image was built from.
type Source struct {
	URL      string `json:"url,omitempty"`
	Revision string `json:"revision,omitempty"`
}

// History is one build step of the image config.
type History struct {
	CreatedBy  string     `json:"created_by,omitempty"`
	Created    *time.Time `json:"created,omitempty"`
	EmptyLayer bool       `json:"empty_layer,omitempty"`
	Comment    string     `json:"comment,omitempty"`
	Author     string     `json:"author,omitempty"`
}

// Layer is one filesystem layer.
type Layer struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	DiffID    string `json:"diff_id"`
}

// BaseImage is the image this one was built on.
type BaseImage struct {
	Name   string `json:"name,omitempty"`
	Digest string `json:"digest,omitempty"`
	// DerivedFrom says how it was found: "annotations" (OCI base annotations on the manifest), "labels"
	// (the same keys as config labels) or "layers" (longest layer prefix among analysed images; set by the engine).
	DerivedFrom string `json:"derived_from,omitempty"`
}

// PackageLayer is one package found by syft and the layer that introduced it.
type PackageLayer struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Type    string `json:"type"`
	PURL    string `json:"purl,omitempty"`
	Layer   string `json:"layer,omitempty"` // diff_id of the lowest layer holding the package's evidence
}

// PlatformRef is one platform manifest of an index.
type PlatformRef struct {
	Digest   string   `json:"digest"`
	Platform Platform `json:"platform"`
}

// Label and annotation keys read for the metadata.
const (
	keyOCISource       = "org.opencontainers.image.source"
	keyOCIRevision     = "org.opencontainers.image.revision"
	keyOCICreated      = "org.opencontainers.image.created"
	keyOCIBaseName     = "org.opencontainers.image.base.name"
	keyOCIBaseDigest   = "org.opencontainers.image.base.digest"
	keySchemaVCSURL    = "org.label-schema.vcs-url"
	keySchemaVCSRef    = "org.label-schema.vcs-ref"
	keySchemaBuildDate = "org.label-schema.build-date"
)

// imageMetadata is everything the manifest and config say about an image.
func imageMetadata(digest v1.Hash, mediaType types.MediaType, m *v1.Manifest, cf *v1.ConfigFile) Metadata {
	labels := cf.Config.Labels
	md := Metadata{
		Digest:      digest.String(),
		MediaType:   string(mediaType),
		Platform:    Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion},
		Tags:        []TagRef{},
		Labels:      labels,
		Annotations: m.Annotations,
		History:     make([]History, 0, len(cf.History)),
		Layers:      make([]Layer, 0, len(m.Layers)),
		Packages:    []PackageLayer{},
	}
	md.Source = Source{
		URL:      firstOf(labels[keyOCISource], m.Annotations[keyOCISource], labels[keySchemaVCSURL]),
		Revision: firstOf(labels[keyOCIRevision], m.Annotations[keyOCIRevision], labels[keySchemaVCSRef]),
	}
	if !cf.Created.IsZero() {
		t := cf.Created.UTC()
		md.Created = &t
	} else if t, ok := parseTime(firstOf(labels[keyOCICreated], m.Annotations[keyOCICreated], labels[keySchemaBuildDate])); ok {
		md.Created = &t
	}
	for _, h := range cf.History {
		e := History{CreatedBy: h.CreatedBy, EmptyLayer: h.EmptyLayer, Comment: h.Comment, Author: h.Author}
		if !h.Created.IsZero() {
			t := h.Created.UTC()
			e.Created = &t
		}
		md.History = append(md.History, e)
	}
	for i, l := range m.Layers {
		e := Layer{Digest: l.Digest.String(), Size: l.Size, MediaType: string(l.MediaType)}
		if i < len(cf.RootFS.DiffIDs) {
			e.DiffID = cf.RootFS.DiffIDs[i].String()
		}
		md.Layers = append(md.Layers, e)
	}
	switch {
	case m.Annotations[keyOCIBaseName] != "" || m.Annotations[keyOCIBaseDigest] != "":
		md.BaseImage = &BaseImage{Name: m.Annotations[keyOCIBaseName], Digest: m.Annotations[keyOCIBaseDigest], DerivedFrom: "annotations"}
	case labels[keyOCIBaseName] != "" || labels[keyOCIBaseDigest] != "":
		md.BaseImage = &BaseImage{Name: labels[keyOCIBaseName], Digest: labels[keyOCIBaseDigest], DerivedFrom: "labels"}
	}
	return md
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// LayerPrefixBase derives a base image from layers: among candidates (image digest -> its layer diff_ids, in
// order), the one whose layers are the longest strict prefix of layers. Two candidates with the same layers
// (e.g. one re-labelled) resolve to the smallest digest so the answer is stable. Pass diff_ids on both sides.
func LayerPrefixBase(layers []string, candidates map[string][]string) (digest string, ok bool) {
	best := -1
	for d, cl := range candidates {
		if len(cl) == 0 || len(cl) >= len(layers) || !isPrefix(cl, layers) {
			continue
		}
		if len(cl) > best || (len(cl) == best && d < digest) {
			best, digest = len(cl), d
		}
	}
	return digest, best > 0
}

func isPrefix(prefix, layers []string) bool {
	for i := range prefix {
		if prefix[i] != layers[i] {
			return false
		}
	}
	return true
}

// sortPackages orders packages by type, name, version, layer.
func sortPackages(pkgs []PackageLayer) {
	sort.Slice(pkgs, func(i, j int) bool {
		a, b := pkgs[i], pkgs[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Layer < b.Layer
	})
}
