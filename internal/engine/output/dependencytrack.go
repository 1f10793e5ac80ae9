package output

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DependencyTrack uploads the CycloneDX SBOM to OWASP Dependency-Track with
// PUT /api/v1/bom: one project per image ("<registry-host>/<repository>/<image>")
// and one project version per tag, auto-created. A platform of a multi-platform
// image gets the version "<tag> (<os>/<arch>[/<variant>])" so platforms do not
// overwrite each other. Re-uploading a BOM replaces the version's components, so
// delivery is idempotent.
type DependencyTrack struct {
	endpoint string
	apiKey   string
	name     string
	remote   *remote
}

var _ Output = (*DependencyTrack)(nil)

// BOMUpload is the JSON body of PUT /api/v1/bom.
type BOMUpload struct {
	ProjectName    string `json:"projectName"`
	ProjectVersion string `json:"projectVersion"`
	AutoCreate     bool   `json:"autoCreate"`
	BOM            string `json:"bom"` // base64 of the CycloneDX JSON document
}

// NewDependencyTrack returns an output uploading to the Dependency-Track API
// server at rawURL (e.g. https://dtrack.internal; a trailing /api is accepted).
func NewDependencyTrack(rawURL, apiKey string, opts ...Option) (*DependencyTrack, error) {
	u, err := parseEndpoint("dependency_track", rawURL)
	if err != nil {
		return nil, err
	}
	if apiKey == "" {
		return nil, errors.New("dependency_track output: api key is empty: set api_key, api_key_env or api_key_file")
	}
	base := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api")
	u.Path = base + "/api/v1/bom"
	u.RawQuery, u.Fragment = "", ""
	o := buildOptions(opts)
	name := "dependency_track:" + redactURL(rawURL)
	return &DependencyTrack{
		endpoint: u.String(),
		apiKey:   apiKey,
		name:     name,
		remote:   newRemote(name, o, o.logger.Named("dependency_track"), apiKey),
	}, nil
}

// Name is "dependency_track:<url>".
func (d *DependencyTrack) Name() string { return d.name }

// Deliver uploads a's CycloneDX SBOM once per tag. An artifact without SBOMs (an
// index, a skipped artifact) has nothing to upload and succeeds.
func (d *DependencyTrack) Deliver(ctx context.Context, a Artifact) error {
	h, err := a.Header()
	if err != nil {
		return err
	}
	if len(a.SBOMs) == 0 {
		d.remote.log.Debug("no SBOM to upload", "digest", h.Digest)
		return nil
	}
	cdx, ok := a.SBOMs[FormatCycloneDXJSON]
	if !ok {
		return permanent(fmt.Errorf("dependency_track output: %s has no CycloneDX SBOM: add \"cyclonedx-json\" to sbom_formats in the engine config", h.Digest))
	}
	if !json.Valid(cdx) {
		return permanent(fmt.Errorf("dependency_track output: CycloneDX SBOM of %s is not valid JSON", h.Digest))
	}
	uploads, err := d.uploads(a, h)
	if err != nil {
		return err
	}
	encoded := base64.StdEncoding.EncodeToString(cdx)
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("X-Api-Key", d.apiKey)
	for _, up := range uploads {
		up.BOM = encoded
		body, err := json.Marshal(up)
		if err != nil {
			return permanent(fmt.Errorf("dependency_track output: encode upload of %s: %w", h.Digest, err))
		}
		err = d.remote.do(ctx, http.MethodPut, d.endpoint, body, header, func(resp *http.Response) error {
			var r struct {
				Token string `json:"token"`
			}
			_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&r)
			d.remote.log.Debug("BOM uploaded", "digest", h.Digest, "project", up.ProjectName, "version", up.ProjectVersion, "processing_token", r.Token)
			return nil
		})
		if err != nil {
			if e := (*Error)(nil); errors.As(err, &e) {
				switch e.StatusCode {
				case http.StatusUnauthorized:
					e.Hint = "check the output's api_key"
				case http.StatusForbidden:
					e.Hint = "the API key's team needs the BOM_UPLOAD and PROJECT_CREATION_UPLOAD permissions"
				case http.StatusNotFound:
					e.Hint = "check the output's url: it must be the Dependency-Track API server"
				}
				e.Message = fmt.Sprintf("%s (project %s version %s)", e.Message, up.ProjectName, up.ProjectVersion)
			}
			return err
		}
	}
	return nil
}

// uploads lists the distinct (project, version) pairs of a's tags.
func (d *DependencyTrack) uploads(a Artifact, h Header) ([]BOMUpload, error) {
	if len(h.Tags) == 0 {
		return nil, permanent(fmt.Errorf("dependency_track output: %s has no tags to name a project and version after", h.Digest))
	}
	platform := ""
	if a.Parent != "" {
		platform = h.Platform.String()
	}
	seen := map[[2]string]bool{}
	var out []BOMUpload
	for _, t := range h.Tags {
		host, err := t.RegistryHost()
		if err != nil {
			return nil, permanent(fmt.Errorf("dependency_track output: %s: %w", h.Digest, err))
		}
		version := t.Tag
		if platform != "" {
			version += " (" + platform + ")"
		}
		key := [2]string{host + "/" + t.Repository + "/" + t.Image, version}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, BOMUpload{ProjectName: key[0], ProjectVersion: key[1], AutoCreate: true})
	}
	return out, nil
}
