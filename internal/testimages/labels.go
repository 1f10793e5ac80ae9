package testimages

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Label and annotation keys used by the fixtures.
const (
	LabelOCISource        = "org.opencontainers.image.source"
	LabelOCIRevision      = "org.opencontainers.image.revision"
	LabelOCICreated       = "org.opencontainers.image.created"
	LabelOCIVersion       = "org.opencontainers.image.version"
	LabelOCITitle         = "org.opencontainers.image.title"
	LabelSchemaVCSURL     = "org.label-schema.vcs-url"
	LabelSchemaVCSRef     = "org.label-schema.vcs-ref"
	LabelSchemaBuildDate  = "org.label-schema.build-date"
	LabelSchemaVersion    = "org.label-schema.schema-version"
	AnnotationBaseName    = "org.opencontainers.image.base.name"
	AnnotationBaseDigest  = "org.opencontainers.image.base.digest"
	annotationRefType     = "vnd.docker.reference.type"
	annotationRefDigest   = "vnd.docker.reference.digest"
	attestationRefType    = "attestation-manifest"
	attestationLayerType  = "application/vnd.in-toto+json"
	attestationPredicate  = "in-toto.io/predicate-type"
	provenancePredicateV1 = "https://slsa.dev/provenance/v0.2"
)

// OCILabels are the org.opencontainers.image.* labels for a source repository, commit and build time.
func OCILabels(sourceURL, revision string, created time.Time) map[string]string {
	return map[string]string{
		LabelOCISource:   sourceURL,
		LabelOCIRevision: revision,
		LabelOCICreated:  created.UTC().Format(time.RFC3339),
	}
}

// LabelSchemaLabels are the legacy org.label-schema.* labels for a source repository, commit and build time.
func LabelSchemaLabels(vcsURL, vcsRef string, buildDate time.Time) map[string]string {
	return map[string]string{
		LabelSchemaVCSURL:    vcsURL,
		LabelSchemaVCSRef:    vcsRef,
		LabelSchemaBuildDate: buildDate.UTC().Format(time.RFC3339),
		LabelSchemaVersion:   "1.0",
	}
}

// WithLabels returns img with labels merged into its config (a label set to "" is removed).
func WithLabels(img v1.Image, labels map[string]string) (v1.Image, error) {
	return editConfig(img, func(cf *v1.ConfigFile) {
		if cf.Config.Labels == nil {
			cf.Config.Labels = map[string]string{}
		}
		for k, v := range labels {
			if v == "" {
				delete(cf.Config.Labels, k)
			} else {
				cf.Config.Labels[k] = v
			}
		}
	})
}

// WithBaseAnnotations returns img with the OCI base image annotations (org.opencontainers.image.base.name and
// .digest) on its manifest, as `docker buildx build` writes them.
func WithBaseAnnotations(img v1.Image, baseName string, baseDigest v1.Hash) (v1.Image, error) {
	return WithAnnotations(img, map[string]string{AnnotationBaseName: baseName, AnnotationBaseDigest: baseDigest.String()})
}

// WithAnnotations returns img with annotations merged into its manifest.
func WithAnnotations(img v1.Image, annotations map[string]string) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	merged := maps.Clone(m.Annotations)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, annotations)
	out, ok := mutate.Annotations(img, merged).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("testimages: annotated manifest is not an image")
	}
	return out, nil
}

func jsonString(v any) string {
	b, _ := json.Marshal(v) // strings and string slices always marshal
	return string(b)
}

// appConfig sets an application's entrypoint, environment and working directory.
func appConfig(img v1.Image, name string, entrypoint, env []string) (v1.Image, error) {
	return editConfig(img, func(cf *v1.ConfigFile) {
		cf.Config.Entrypoint = entrypoint
		cf.Config.Cmd = nil
		cf.Config.WorkingDir = "/app"
		cf.Config.User = "65534:65534"
		cf.Config.Env = append(cf.Config.Env, env...)
		if cf.Config.Labels == nil {
			cf.Config.Labels = map[string]string{}
		}
		cf.Config.Labels[LabelOCITitle] = name
		created := cf.Created.Time
		cf.History = append(cf.History,
			v1.History{Created: v1.Time{Time: created}, CreatedBy: "WORKDIR /app", Comment: "buildkit.dockerfile.v0", EmptyLayer: true},
			v1.History{Created: v1.Time{Time: created}, CreatedBy: "USER 65534:65534", Comment: "buildkit.dockerfile.v0", EmptyLayer: true},
			v1.History{Created: v1.Time{Time: created}, CreatedBy: "ENTRYPOINT " + jsonString(entrypoint), Comment: "buildkit.dockerfile.v0", EmptyLayer: true},
		)
	})
}
