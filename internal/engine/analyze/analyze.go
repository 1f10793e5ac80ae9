// Package analyze resolves image references into platform manifests and analyses each one: it pulls the
// image once into a shared blob cache with go-containerregistry, builds the SBOMs with the syft library and
// derives the image metadata (source, history, layers, base image, the layer that introduced each package).
package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/stereoscope/pkg/image"
	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/cataloging"
	"github.com/anchore/syft/syft/format"
	"github.com/anchore/syft/syft/format/cyclonedxjson"
	"github.com/anchore/syft/syft/format/spdxjson"
	"github.com/anchore/syft/syft/format/syftjson"
	"github.com/anchore/syft/syft/sbom"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/stereoscopesource"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hashicorp/go-hclog"

	// syft's RPM cataloger opens newer rpmdb databases through database/sql and needs a "sqlite" driver
	// registered by the program (the syft CLI does the same).
	_ "modernc.org/sqlite"
)

// SBOM format names (the engine's sbom_formats values).
const (
	FormatCycloneDXJSON = "cyclonedx-json"
	FormatSPDXJSON      = "spdx-json"
	FormatSyftJSON      = "syft-json"
)

// SupportedFormats lists the SBOM formats the analyzer can write.
var SupportedFormats = []string{FormatCycloneDXJSON, FormatSPDXJSON, FormatSyftJSON}

// Analyzer resolves and analyses images. It is safe for concurrent use; analyses of images sharing layers
// download each shared layer once.
type Analyzer struct {
	logger        hclog.Logger
	formats       []string
	parallelism   int
	cacheDir      string
	ownsCacheDir  bool
	scope         source.Scope
	layerFetchers int
	tempPrefix    string
	cacheMaxBytes int64

	cache    *blobCache
	encoders map[string]sbom.FormatEncoder
	closing  sync.Once
}

// Option configures an Analyzer.
type Option func(*Analyzer)

// WithLogger sets the logger; syft's, stereoscope's and go-containerregistry's logs are bridged into the
// logger of the first Analyzer of the process (their hooks are process-global).
func WithLogger(l hclog.Logger) Option { return func(a *Analyzer) { a.logger = l } }

// WithFormats sets the SBOM formats to write (SupportedFormats); default cyclonedx-json.
func WithFormats(formats []string) Option {
	return func(a *Analyzer) { a.formats = slices.Clone(formats) }
}

// WithParallelism sets syft's cataloging parallelism per image; 0 (default) lets syft use the number of CPUs.
func WithParallelism(n int) Option { return func(a *Analyzer) { a.parallelism = n } }

// WithCacheDir sets the shared blob cache (an OCI image layout directory) so layers shared between images are
// fetched once, also across restarts. Default: a temporary directory removed by Close.
func WithCacheDir(dir string) Option { return func(a *Analyzer) { a.cacheDir = dir } }

// WithScope sets syft's search scope: "deep-squashed" (default: what the running container sees, with every
// layer that held each package, so the introducing layer is known), "squashed" (faster; a package's layer is
// then the last layer that touched its evidence) or "all-layers".
func WithScope(scope string) Option { return func(a *Analyzer) { a.scope = source.ParseScope(scope) } }

// WithLayerFetchers bounds concurrent layer downloads per image (default 3).
func WithLayerFetchers(n int) Option { return func(a *Analyzer) { a.layerFetchers = n } }

// WithCacheMaxBytes bounds the blob cache: after each analysis the least recently used blobs beyond maxBytes
// are removed (blobs of analyses in progress are kept). 0 (default) means unbounded.
func WithCacheMaxBytes(maxBytes int64) Option {
	return func(a *Analyzer) { a.cacheMaxBytes = maxBytes }
}

// New returns an Analyzer. It does no network I/O.
func New(opts ...Option) (*Analyzer, error) {
	a := &Analyzer{
		logger:        hclog.NewNullLogger(),
		formats:       []string{FormatCycloneDXJSON},
		scope:         source.DeepSquashedScope,
		layerFetchers: 3,
		tempPrefix:    "imagewatch-analyze",
	}
	for _, o := range opts {
		o(a)
	}
	if a.logger == nil {
		a.logger = hclog.NewNullLogger()
	}
	if a.parallelism < 0 {
		return nil, fmt.Errorf("parallelism must be 0 (syft's default) or positive, got %d", a.parallelism)
	}
	if a.cacheMaxBytes < 0 {
		return nil, fmt.Errorf("cache size limit must be 0 (unbounded) or positive, got %d", a.cacheMaxBytes)
	}
	if a.layerFetchers <= 0 {
		return nil, fmt.Errorf("layer fetchers must be positive, got %d", a.layerFetchers)
	}
	if a.scope == source.UnknownScope {
		return nil, fmt.Errorf("scope must be one of %v", source.AllScopes)
	}
	if len(a.formats) == 0 {
		a.formats = []string{FormatCycloneDXJSON}
	}
	encoders, err := newEncoders(a.formats)
	if err != nil {
		return nil, err
	}
	a.encoders = encoders

	if a.cacheDir == "" {
		dir, err := os.MkdirTemp("", "imagewatch-blobs-")
		if err != nil {
			return nil, fmt.Errorf("creating blob cache: %w", err)
		}
		a.cacheDir, a.ownsCacheDir = dir, true
	}
	if a.cache, err = openBlobCache(a.cacheDir); err != nil {
		return nil, err
	}
	bridgeLibraryLoggers(a.logger)
	return a, nil
}

func newEncoders(formats []string) (map[string]sbom.FormatEncoder, error) {
	out := map[string]sbom.FormatEncoder{}
	for _, f := range formats {
		var (
			enc sbom.FormatEncoder
			err error
		)
		switch f {
		case FormatCycloneDXJSON:
			enc, err = cyclonedxjson.NewFormatEncoderWithConfig(cyclonedxjson.DefaultEncoderConfig())
		case FormatSPDXJSON:
			enc, err = spdxjson.NewFormatEncoderWithConfig(spdxjson.DefaultEncoderConfig())
		case FormatSyftJSON:
			enc = syftjson.NewFormatEncoder()
		default:
			return nil, fmt.Errorf("sbom format %q is not supported: use one of %s", f, strings.Join(SupportedFormats, ", "))
		}
		if err != nil {
			return nil, fmt.Errorf("sbom format %s: %w", f, err)
		}
		out[f] = enc
	}
	return out, nil
}

// CacheDir is the blob cache directory.
func (a *Analyzer) CacheDir() string { return a.cacheDir }

// PruneCache removes the least recently used blobs until the cache holds at most maxBytes; blobs of analyses
// in progress are kept. It returns how many blobs and bytes were removed.
func (a *Analyzer) PruneCache(maxBytes int64) (removed int, freed int64, err error) {
	return a.cache.prune(maxBytes)
}

// Close removes the blob cache when New created it (no WithCacheDir).
func (a *Analyzer) Close() error {
	var err error
	a.closing.Do(func() {
		if a.ownsCacheDir {
			err = os.RemoveAll(a.cacheDir)
		}
	})
	return err
}

// Resolved is what a reference points at and what to analyse of it.
type Resolved struct {
	Digest    string           // digest of what ref points at
	MediaType string           // its manifest media type
	Platforms []PlatformTarget // one per platform manifest (a single manifest yields one); attestations excluded
	Skipped   string           // non-empty: not a container image (Helm chart, other OCI artifact) and why
}

// PlatformTarget is one platform manifest to analyse.
type PlatformTarget struct {
	Digest   string
	Platform v1.Platform
}

// IsIndex reports whether the reference is an image index.
func (r *Resolved) IsIndex() bool { return types.MediaType(r.MediaType).IsIndex() }

// Metadata is the metadata record of an index: its digest and platforms (the engine adds tags).
func (r *Resolved) Metadata(analyzedAt time.Time) Metadata {
	md := Metadata{Digest: r.Digest, MediaType: r.MediaType, Tags: []TagRef{}, History: []History{}, Layers: []Layer{},
		Packages: []PackageLayer{}, AnalyzedAt: analyzedAt.UTC()}
	for _, p := range r.Platforms {
		md.Platforms = append(md.Platforms, PlatformRef{Digest: p.Digest, Platform: platformFrom(&p.Platform)})
	}
	return md
}

// fetchManifest gets the manifest at ref and tells what kind it is; a malformed one is a permanent error.
func fetchManifest(ref name.Reference, opts []remote.Option) (*remote.Descriptor, types.MediaType, error) {
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, "", registryError(ref.String(), "fetch manifest", classifyGetError(err))
	}
	mt, err := manifestKind(ref.String(), desc.MediaType, desc.Manifest)
	if err != nil {
		return nil, "", err
	}
	return desc, mt, nil
}

// Resolve fetches the manifest at ref (tag or digest) and returns what to analyse: an index yields its
// platform manifests (attestation manifests skipped); an image manifest yields itself with the platform of
// its config; a manifest that is not a container image yields Skipped with the reason (no error).
// remoteOpts carry authentication and transport.
func (a *Analyzer) Resolve(ctx context.Context, ref name.Reference, remoteOpts ...remote.Option) (*Resolved, error) {
	opts := withContext(ctx, remoteOpts)
	refStr := ref.String()
	desc, mt, err := fetchManifest(ref, opts)
	if err != nil {
		return nil, err
	}
	res := &Resolved{Digest: desc.Digest.String(), MediaType: string(mt)}
	if mt.IsIndex() {
		var skipped []string
		res.Platforms, skipped, err = a.indexTargets(ctx, ref.Context(), refStr, desc.Manifest, opts, 0)
		if err != nil {
			return nil, err
		}
		if len(res.Platforms) == 0 {
			res.Skipped = "image index lists no container image manifests"
			if len(skipped) > 0 {
				res.Skipped += " (" + strings.Join(skipped, "; ") + ")"
			}
		}
		return res, nil
	}

	m, err := parseManifest(refStr, desc.Manifest)
	if err != nil {
		return nil, err
	}
	if reason := artifactReason(m); reason != "" {
		res.Skipped = reason
		return res, nil
	}
	desc.MediaType = mt
	rimg, err := desc.Image()
	if err != nil {
		return nil, registryError(refStr, "read manifest", err)
	}
	_, cf, err := a.config(ctx, refStr, m, rimg)
	if err != nil {
		return nil, err
	}
	res.Platforms = []PlatformTarget{{Digest: res.Digest, Platform: v1.Platform{
		OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}}}
	return res, nil
}

// indexTargets lists the platform manifests of an index, descending into nested indexes (depth-limited).
func (a *Analyzer) indexTargets(ctx context.Context, repo name.Repository, refStr string, raw []byte, opts []remote.Option, depth int) ([]PlatformTarget, []string, error) {
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, permanentf(refStr, "parse index", "malformed image index: %v", err)
	}
	if im.SchemaVersion != 2 {
		return nil, nil, permanentf(refStr, "parse index", "malformed image index: schemaVersion %d, want 2", im.SchemaVersion)
	}
	var (
		targets []PlatformTarget
		skipped []string
	)
	for i, d := range im.Manifests {
		if d.Digest.Hex == "" {
			return nil, nil, permanentf(refStr, "parse index", "malformed image index: manifests[%d] has no digest", i)
		}
		switch {
		case isAttestation(d):
			continue
		case d.MediaType.IsIndex():
			if depth >= 2 {
				skipped = append(skipped, d.Digest.String()+": index nested too deep")
				continue
			}
			child := repo.Digest(d.Digest.String())
			cd, err := remote.Get(child, opts...)
			if err != nil {
				return nil, nil, registryError(child.String(), "fetch nested index", classifyGetError(err))
			}
			t, s, err := a.indexTargets(ctx, repo, child.String(), cd.Manifest, opts, depth+1)
			if err != nil {
				return nil, nil, err
			}
			targets, skipped = append(targets, t...), append(skipped, s...)
		case d.MediaType.IsImage():
			if d.ArtifactType != "" && !isImageConfig(types.MediaType(d.ArtifactType)) {
				skipped = append(skipped, d.Digest.String()+": artifact of type "+d.ArtifactType)
				continue
			}
			t := PlatformTarget{Digest: d.Digest.String()}
			if d.Platform != nil {
				t.Platform = *d.Platform
			}
			targets = append(targets, t)
		default:
			skipped = append(skipped, fmt.Sprintf("%s: media type %q", d.Digest, d.MediaType))
		}
	}
	return targets, skipped, nil
}

// Result of analysing one platform manifest.
type Result struct {
	Metadata Metadata
	SBOMs    map[string][]byte // format name -> encoded document
	Stats    Stats
}

// Stats says what an analysis cost.
type Stats struct {
	LayersFetched int           // layers downloaded by this analysis
	LayersCached  int           // layers already in the blob cache (or downloaded by a concurrent analysis)
	BytesFetched  int64         // compressed bytes downloaded
	Pull          time.Duration // manifest, config and layers
	Catalog       time.Duration // unpacking and syft cataloging
	Encode        time.Duration
}

// Analyze pulls one platform manifest (by digest) into the blob cache, builds the SBOMs with syft and the
// metadata. A manifest that is not a container image returns a (wrapped) *SkipError; malformed content a permanent
// *Error (IsPermanent). Temporary files are removed before it returns.
func (a *Analyzer) Analyze(ctx context.Context, ref name.Digest, remoteOpts ...remote.Option) (*Result, error) {
	refStr := ref.String()
	opts := withContext(ctx, remoteOpts)
	log := a.logger.With("ref", refStr)
	start := time.Now()

	desc, mt, err := fetchManifest(ref, opts)
	if err != nil {
		return nil, err
	}
	if mt.IsIndex() {
		return nil, permanentf(refStr, "analyze", "%s is an image index: Resolve it and analyse each platform manifest", desc.Digest)
	}
	m, err := parseManifest(refStr, desc.Manifest)
	if err != nil {
		return nil, err
	}
	if reason := artifactReason(m); reason != "" {
		return nil, &Error{Reference: refStr, Op: "analyze", Permanent: true, Err: &SkipError{Reason: reason}}
	}
	desc.MediaType = mt
	rimg, err := desc.Image()
	if err != nil {
		return nil, registryError(refStr, "read manifest", err)
	}
	rawConfig, cf, err := a.config(ctx, refStr, m, rimg)
	if err != nil {
		return nil, err
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return nil, permanentf(refStr, "parse config", "config lists %d diff_ids for %d manifest layers", len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	blobs := []v1.Hash{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	defer a.cache.pin(blobs)()
	if a.cacheMaxBytes > 0 {
		defer func() {
			if removed, freed, err := a.cache.prune(a.cacheMaxBytes); err != nil {
				log.Warn("pruning blob cache", "error", err)
			} else if removed > 0 {
				log.Debug("pruned blob cache", "blobs", removed, "bytes", freed)
			}
		}()
	}
	var stats Stats
	if err := a.fetchLayers(ctx, refStr, m, rimg, &stats); err != nil {
		return nil, err
	}
	stats.Pull = time.Since(start)

	img, err := partial.CompressedToImage(&cachedImage{cache: a.cache, mediaType: mt, rawManifest: desc.Manifest, rawConfig: rawConfig, manifest: m})
	if err != nil {
		return nil, permanentf(refStr, "read image", "%v", err)
	}
	catalogStart := time.Now()
	s, err := a.buildSBOM(ctx, ref, desc.Digest, desc.Manifest, img)
	if err != nil {
		return nil, err
	}
	stats.Catalog = time.Since(catalogStart)

	encodeStart := time.Now()
	docs := make(map[string][]byte, len(a.formats))
	for _, f := range a.formats {
		b, err := format.Encode(*s, a.encoders[f])
		if err != nil {
			return nil, &Error{Reference: refStr, Op: "encode " + f, Err: err}
		}
		docs[f] = b
	}
	stats.Encode = time.Since(encodeStart)

	md := imageMetadata(desc.Digest, mt, m, cf)
	md.Packages = packageLayers(s, cf.RootFS.DiffIDs)
	md.PackageCount = len(md.Packages)
	md.AnalyzedAt = time.Now().UTC()
	log.Debug("analysed", "packages", md.PackageCount, "layers_fetched", stats.LayersFetched, "layers_cached", stats.LayersCached,
		"bytes_fetched", stats.BytesFetched, "pull", stats.Pull, "catalog", stats.Catalog)
	return &Result{Metadata: md, SBOMs: docs, Stats: stats}, nil
}

// config returns the image config, from the cache or the registry (then cached).
func (a *Analyzer) config(ctx context.Context, refStr string, m *v1.Manifest, rimg v1.Image) ([]byte, *v1.ConfigFile, error) {
	d := m.Config.Digest
	var raw []byte
	if a.cache.has(d, m.Config.Size) {
		b, err := a.cache.read(d)
		if err != nil {
			return nil, nil, &Error{Reference: refStr, Op: "read cached config", Err: err}
		}
		raw = b
	} else {
		b, err := rimg.RawConfigFile()
		if err != nil {
			return nil, nil, registryError(refStr, "fetch config "+d.String(), err)
		}
		if err := a.cache.put(d, b); err != nil {
			return nil, nil, registryError(refStr, "fetch config "+d.String(), err)
		}
		raw = b
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, &Error{Reference: refStr, Op: "fetch config", Err: err}
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, permanentf(refStr, "parse config", "malformed image config %s: %v", d, err)
	}
	return raw, cf, nil
}

// fetchLayers downloads the layers missing from the cache, a few at a time, streaming each to disk.
func (a *Analyzer) fetchLayers(ctx context.Context, refStr string, m *v1.Manifest, rimg v1.Image, stats *Stats) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, a.layerFetchers)
	)
	for _, l := range m.Layers {
		if a.cache.has(l.Digest, l.Size) {
			stats.LayersCached++
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return &Error{Reference: refStr, Op: "fetch layers", Err: ctx.Err()}
		}
		wg.Add(1)
		go func(l v1.Descriptor) {
			defer wg.Done()
			defer func() { <-sem }()
			fetched, err := a.cache.ensure(ctx, l.Digest, l.Size, func() (io.ReadCloser, error) {
				layer, err := rimg.LayerByDigest(l.Digest)
				if err != nil {
					return nil, err
				}
				return layer.Compressed()
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, registryError(refStr, "fetch layer "+l.Digest.String(), err))
			case fetched:
				stats.LayersFetched++
				stats.BytesFetched += l.Size
			default:
				stats.LayersCached++
			}
		}(l)
	}
	wg.Wait()
	if len(errs) == 0 {
		return nil
	}
	// the first error keeps its *Error type (permanence, status) for the caller
	var first *Error
	errors.As(errs[0], &first)
	if len(errs) > 1 {
		first.Err = errors.Join(append([]error{first.Err}, errs[1:]...)...)
	}
	return first
}

// buildSBOM unpacks the cached image into a private temporary directory and catalogs it with syft.
func (a *Analyzer) buildSBOM(ctx context.Context, ref name.Digest, digest v1.Hash, rawManifest []byte, img v1.Image) (*sbom.SBOM, error) {
	refStr := ref.String()
	// a generator per analysis, so Cleanup removes exactly this analysis' unpacked layers
	tmp := file.NewTempDirGenerator(a.tempPrefix)
	defer func() {
		if err := tmp.Cleanup(); err != nil {
			a.logger.Warn("removing temporary files", "ref", refStr, "error", err)
		}
	}()
	contentDir, err := tmp.NewDirectory("layers")
	if err != nil {
		return nil, &Error{Reference: refStr, Op: "unpack image", Err: err}
	}
	simg := image.New(img, tmp, contentDir,
		image.WithManifestDigest(digest.String()),
		image.WithManifest(rawManifest),
		image.WithRepoDigests(ref.Context().Name()+"@"+digest.String()),
	)
	if err := simg.Read(ctx); err != nil {
		_ = simg.Cleanup()
		e := &Error{Reference: refStr, Op: "unpack image", Err: err}
		if ctx.Err() == nil && !isIOError(err) {
			e.Permanent = true // a layer that is not a readable tar stays unreadable
		}
		return nil, e
	}
	// The source is built from the image directly rather than through syft.GetSource: no provider lookup
	// happens at all (the default list includes the snap provider, which calls the internet), and the SBOM
	// names the registry reference instead of a temporary path.
	src := stereoscopesource.New(simg, stereoscopesource.ImageConfig{
		Reference: refStr,
		Alias:     source.Alias{Name: ref.Context().Name(), Version: digest.String()},
	})
	defer func() {
		if err := src.Close(); err != nil {
			a.logger.Warn("closing image source", "ref", refStr, "error", err)
		}
	}()
	cfg := syft.DefaultCreateSBOMConfig().
		WithParallelism(a.parallelism).
		WithSearchConfig(cataloging.DefaultSearchConfig().WithScope(a.scope))
	lctx, err := a.licenseScanner(cfg)
	if err != nil {
		return nil, &Error{Reference: refStr, Op: "build SBOM", Err: err}
	}
	s, err := syft.CreateSBOM(valuesFrom(ctx, lctx), src, cfg)
	if err != nil {
		return nil, &Error{Reference: refStr, Op: "build SBOM", Err: err}
	}
	return s, nil
}

// syft builds a license scanner (and, on first use, its matching automaton: seconds of CPU and ~100 MiB of
// allocations) in every CreateSBOM call unless the context already carries one. It is immutable once built and
// safe for concurrent use, so one is built per process, on first use, and shared by every analysis.
var (
	licenseOnce sync.Once
	licenseCtx  context.Context
	licenseErr  error
)

// licenseScanner returns a context carrying syft's license scanner (all analyses use syft's default license
// configuration).
func (a *Analyzer) licenseScanner(cfg *syft.CreateSBOMConfig) (context.Context, error) {
	licenseOnce.Do(func() {
		// the context only carries the scanner value; cancellation comes from each analysis' own context
		licenseCtx, licenseErr = syft.SetContextLicenseScanner(context.Background(), cfg.Licenses)
	})
	return licenseCtx, licenseErr
}

// valuesFrom returns ctx (deadline, cancellation, values) with the values of extra as a fallback.
func valuesFrom(ctx, extra context.Context) context.Context {
	return fallbackValues{Context: ctx, extra: extra}
}

type fallbackValues struct {
	context.Context
	extra context.Context
}

func (c fallbackValues) Value(key any) any {
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.extra.Value(key)
}

// withContext appends ctx to the caller's remote options (the last WithContext wins).
func withContext(ctx context.Context, opts []remote.Option) []remote.Option {
	out := make([]remote.Option, 0, len(opts)+1)
	out = append(out, opts...)
	return append(out, remote.WithContext(ctx))
}

// manifestKind returns the manifest's media type, sniffing the body when the registry's Content-Type is not
// a manifest type (some registries answer application/json).
func manifestKind(refStr string, mt types.MediaType, raw []byte) (types.MediaType, error) {
	switch mt {
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		return "", permanentf(refStr, "fetch manifest", "Docker schema 1 manifests (%s) are not supported: re-push the image with a current client", mt)
	}
	if mt.IsIndex() || mt.IsImage() {
		return mt, nil
	}
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", permanentf(refStr, "parse manifest", "malformed manifest (media type %q): %v", mt, err)
	}
	switch {
	case probe.MediaType.IsIndex() || probe.MediaType.IsImage():
		return probe.MediaType, nil
	case probe.Manifests != nil:
		return types.OCIImageIndex, nil
	case probe.Config != nil:
		return types.OCIManifestSchema1, nil
	}
	return "", permanentf(refStr, "parse manifest", "unsupported manifest media type %q", mt)
}

func parseManifest(refStr string, raw []byte) (*v1.Manifest, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, permanentf(refStr, "parse manifest", "malformed manifest: %v", err)
	}
	switch {
	case m.SchemaVersion != 2:
		return nil, permanentf(refStr, "parse manifest", "malformed manifest: schemaVersion %d, want 2", m.SchemaVersion)
	case m.Config.Digest.Hex == "":
		return nil, permanentf(refStr, "parse manifest", "malformed manifest: config has no digest")
	}
	for i, l := range m.Layers {
		if l.Digest.Hex == "" {
			return nil, permanentf(refStr, "parse manifest", "malformed manifest: layers[%d] has no digest", i)
		}
		if l.Size < 0 {
			return nil, permanentf(refStr, "parse manifest", "malformed manifest: layers[%d] has negative size", i)
		}
	}
	return m, nil
}

// knownArtifacts names config media types of common non-image OCI artifacts.
var knownArtifacts = map[types.MediaType]string{
	"application/vnd.cncf.helm.config.v1+json":           "Helm chart",
	"application/vnd.dev.cosign.simplesigning.v1+json":   "cosign signature",
	"application/vnd.wasm.config.v0+json":                "WebAssembly module",
	"application/vnd.wasm.config.v1+json":                "WebAssembly module",
	"application/vnd.module.wasm.config.v1+json":         "WebAssembly module",
	"application/vnd.cncf.flux.config.v1+json":           "Flux artifact",
	"application/vnd.sylabs.sif.config.v1+json":          "Singularity image",
	"application/vnd.unknown.config.v1+json":             "ORAS artifact",
	"application/vnd.cncf.notary.signature":              "Notary signature",
	"application/vnd.oci.image.config.v1+json+encrypted": "encrypted image",
}

// artifactReason explains why a manifest is not a container image, or returns "".
func artifactReason(m *v1.Manifest) string {
	cmt := m.Config.MediaType
	if !isImageConfig(cmt) {
		what := knownArtifacts[cmt]
		if what == "" {
			what = "OCI artifact"
		}
		if m.ArtifactType != "" {
			return fmt.Sprintf("%s (artifactType %s, config media type %s), not a container image", what, m.ArtifactType, cmt)
		}
		return fmt.Sprintf("%s (config media type %s), not a container image", what, cmt)
	}
	if m.ArtifactType != "" && !isImageConfig(types.MediaType(m.ArtifactType)) {
		return fmt.Sprintf("OCI artifact of type %s, not a container image", m.ArtifactType)
	}
	for _, l := range m.Layers {
		if !l.MediaType.IsLayer() && !isExtraLayerType(l.MediaType) {
			return fmt.Sprintf("layer %s has media type %s, not a filesystem layer (an attestation or artifact, not a container image)", l.Digest, l.MediaType)
		}
	}
	return ""
}

func isImageConfig(mt types.MediaType) bool {
	return mt == types.OCIConfigJSON || mt == types.DockerConfigJSON
}

// isExtraLayerType: filesystem layer types ggcr's IsLayer does not list.
func isExtraLayerType(mt types.MediaType) bool {
	switch mt {
	case "application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.docker.image.rootfs.diff.tar":
		return true
	}
	return false
}

// isAttestation: BuildKit attestation manifests in an index (platform unknown/unknown or reference type).
func isAttestation(d v1.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// classifyGetError turns ggcr's digest verification failure into a typed error.
func classifyGetError(err error) error {
	if err != nil && strings.Contains(err.Error(), "does not match requested digest") {
		return &digestMismatchError{want: "requested digest", got: err.Error()}
	}
	return err
}

// isIOError: local disk problems (full disk, permissions) are retryable, unlike unreadable content.
func isIOError(err error) bool {
	var pe *os.PathError
	var le *os.LinkError
	var se *os.SyscallError
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se)
}
