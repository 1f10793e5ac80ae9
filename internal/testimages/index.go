package testimages

import (
	"encoding/json"
	"fmt"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// MultiPlatform returns an OCI image index over images, keyed by platform ("linux/amd64", "linux/arm64/v8").
// Each image's config must be of the platform it is listed under.
func MultiPlatform(images map[string]v1.Image) (v1.ImageIndex, error) {
	return multiPlatform(images, false)
}

// MultiPlatformWithAttestations is MultiPlatform plus, per platform, a BuildKit provenance attestation
// manifest (platform unknown/unknown, vnd.docker.reference.* annotations), as `docker buildx build` pushes.
func MultiPlatformWithAttestations(images map[string]v1.Image) (v1.ImageIndex, error) {
	return multiPlatform(images, true)
}

func multiPlatform(images map[string]v1.Image, attest bool) (v1.ImageIndex, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("testimages: MultiPlatform needs at least one image")
	}
	keys := make([]string, 0, len(images))
	for k := range images {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var attestations []mutate.IndexAddendum
	for _, k := range keys {
		p, err := v1.ParsePlatform(k)
		if err != nil {
			return nil, fmt.Errorf("testimages: platform %q: %w", k, err)
		}
		img := images[k]
		got, err := platformOf(img)
		if err != nil {
			return nil, err
		}
		if got.OS != p.OS || got.Architecture != p.Architecture || (p.Variant != "" && got.Variant != p.Variant) {
			return nil, fmt.Errorf("testimages: image listed as %s is %s", k, got.String())
		}
		mt, err := img.MediaType()
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{MediaType: mt, Platform: p},
		})
		if attest {
			a, err := provenanceAttestation(img)
			if err != nil {
				return nil, err
			}
			d, err := img.Digest()
			if err != nil {
				return nil, err
			}
			attestations = append(attestations, mutate.IndexAddendum{Add: a, Descriptor: v1.Descriptor{
				MediaType:   types.OCIManifestSchema1,
				Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
				Annotations: map[string]string{annotationRefDigest: d.String(), annotationRefType: attestationRefType},
			}})
		}
	}
	return mutate.AppendManifests(idx, attestations...), nil
}

// provenanceAttestation is an in-toto SLSA provenance statement about subject, packed the way BuildKit does.
func provenanceAttestation(subject v1.Image) (v1.Image, error) {
	d, err := subject.Digest()
	if err != nil {
		return nil, err
	}
	stmt, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": provenancePredicateV1,
		"subject":       []map[string]any{{"name": "_", "digest": map[string]string{"sha256": d.Hex}}},
		"predicate": map[string]any{
			"builder":   map[string]string{"id": ""},
			"buildType": "https://mobyproject.org/buildkit@v1",
			"metadata":  map[string]any{"buildStartedOn": Epoch.Format("2006-01-02T15:04:05Z"), "reproducible": true},
		},
	})
	if err != nil {
		return nil, err
	}
	img, err := editConfig(emptyOCIImage(), func(cf *v1.ConfigFile) {
		cf.OS, cf.Architecture = "unknown", "unknown"
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(stmt, attestationLayerType),
		Annotations: map[string]string{attestationPredicate: provenancePredicateV1},
		MediaType:   attestationLayerType,
	})
}
