package testimages

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Corpus repositories: applications are pushed to CorpusDevRepository; their newest version is promoted
// (same digest) into CorpusProdRepository.
const (
	CorpusDevRepository  = "docker-dev"
	CorpusProdRepository = "docker-prod"
	// CorpusBaseName is what the Go applications' OCI base annotations name.
	CorpusBaseName = "docker.io/library/debian:12"
)

// CorpusEntry is one tag of the benchmark corpus. Entries that share an Image share its digest.
type CorpusEntry struct {
	Repository string // repository key, e.g. "docker-dev"
	Name       string // image name inside the repository, e.g. "shop/payments-api"
	Tag        string
	Image      v1.Image
}

// CorpusApp describes one application of the corpus.
type CorpusApp struct {
	Name string // image name, e.g. "shop/payments-api"
	Kind string // "go", "node" or "java"
}

// CorpusApps are the applications of Corpus, all on the same Debian-like base.
var CorpusApps = []CorpusApp{
	{Name: "shop/payments-api", Kind: "go"},
	{Name: "shop/inventory-worker", Kind: "go"},
	{Name: "shop/checkout-web", Kind: "node"},
	{Name: "shop/storefront", Kind: "node"},
	{Name: "shop/ledger-service", Kind: "java"},
	{Name: "shop/reports", Kind: "java"},
}

// CorpusVersions are the versions of each application; each is a distinct image (its own version layer and
// labels) that shares the base and application layers with its siblings.
var CorpusVersions = []string{"1.0.0", "1.1.0", "1.2.0"}

// Corpus is the benchmark corpus of the engine issue: CorpusApps on one shared DebianBase, each in
// CorpusDevRepository with one tag per CorpusVersions entry plus "latest" (the newest), and the newest version
// promoted into CorpusProdRepository as "<version>" and "stable". Go apps carry OCI labels and OCI base
// annotations, Node apps OCI labels, Java apps legacy label-schema labels.
func Corpus() ([]CorpusEntry, error) {
	base, err := DebianBase()
	if err != nil {
		return nil, err
	}
	baseDigest, err := base.Digest()
	if err != nil {
		return nil, err
	}
	var entries []CorpusEntry
	for _, app := range CorpusApps {
		var newest v1.Image
		for i, version := range CorpusVersions {
			img, err := CorpusImage(base, baseDigest, app, version, i)
			if err != nil {
				return nil, fmt.Errorf("testimages: corpus %s:%s: %w", app.Name, version, err)
			}
			entries = append(entries, CorpusEntry{Repository: CorpusDevRepository, Name: app.Name, Tag: version, Image: img})
			newest = img
		}
		last := CorpusVersions[len(CorpusVersions)-1]
		entries = append(entries,
			CorpusEntry{Repository: CorpusDevRepository, Name: app.Name, Tag: "latest", Image: newest},
			CorpusEntry{Repository: CorpusProdRepository, Name: app.Name, Tag: last, Image: newest},
			CorpusEntry{Repository: CorpusProdRepository, Name: app.Name, Tag: "stable", Image: newest},
		)
	}
	return entries, nil
}

// CorpusImage builds version (the n-th release) of app on base.
func CorpusImage(base v1.Image, baseDigest v1.Hash, app CorpusApp, version string, n int) (v1.Image, error) {
	short := path.Base(app.Name)
	var (
		img v1.Image
		err error
	)
	switch app.Kind {
	case "go":
		img, err = goApp(base, short, version)
	case "node":
		img, err = nodeApp(base, short, version)
	case "java":
		img, err = javaApp(base, short, version)
	default:
		return nil, fmt.Errorf("unknown application kind %q", app.Kind)
	}
	if err != nil {
		return nil, err
	}
	repoURL := "https://github.com/acme/" + short
	revision := CorpusRevision(app.Name, version)
	built := Epoch.Add(time.Duration(n+1) * 24 * time.Hour)
	labels := OCILabels(repoURL, revision, built)
	if app.Kind == "java" {
		labels = LabelSchemaLabels(repoURL, revision, built)
	}
	labels[LabelOCIVersion] = version
	if img, err = WithLabels(img, labels); err != nil {
		return nil, err
	}
	if app.Kind == "go" {
		return WithBaseAnnotations(img, CorpusBaseName, baseDigest)
	}
	return img, nil
}

// CorpusRevision is the (fake but well-formed) commit SHA labelled on version of app.
func CorpusRevision(app, version string) string {
	h := sha1.Sum([]byte(app + "@" + version))
	return hex.EncodeToString(h[:])
}
