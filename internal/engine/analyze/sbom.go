package analyze

import (
	"github.com/anchore/syft/syft/pkg"
	"github.com/anchore/syft/syft/sbom"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// packageLayers lists syft's packages with the layer that introduced each: the lowest layer (by position in
// the image) holding the package's primary evidence (its dpkg status entry, lockfile, jar, binary...), or any
// of its locations when none is marked primary. With the deep-squashed scope the locations include lower
// layers whose copy of the evidence was later overwritten, which is what makes "introduced" accurate.
func packageLayers(s *sbom.SBOM, diffIDs []v1.Hash) []PackageLayer {
	position := make(map[string]int, len(diffIDs))
	for i, d := range diffIDs {
		position[d.String()] = i
	}
	out := make([]PackageLayer, 0, s.Artifacts.Packages.PackageCount())
	for _, p := range s.Artifacts.Packages.Sorted() {
		out = append(out, PackageLayer{
			Name:    p.Name,
			Version: p.Version,
			Type:    string(p.Type),
			PURL:    p.PURL,
			Layer:   introducingLayer(p, position, diffIDs),
		})
	}
	sortPackages(out)
	return out
}

func introducingLayer(p pkg.Package, position map[string]int, diffIDs []v1.Hash) string {
	best, bestPrimary := -1, -1
	for _, l := range p.Locations.ToSlice() {
		i, ok := position[l.FileSystemID]
		if !ok {
			continue
		}
		if best < 0 || i < best {
			best = i
		}
		if l.Annotations[pkg.EvidenceAnnotationKey] == pkg.PrimaryEvidenceAnnotation && (bestPrimary < 0 || i < bestPrimary) {
			bestPrimary = i
		}
	}
	if bestPrimary >= 0 {
		best = bestPrimary
	}
	if best < 0 {
		return ""
	}
	return diffIDs[best].String()
}
