package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/testimages"
)

// testRegistry is ggcr's in-process registry behind a handler that counts blob downloads and can inject faults.
type testRegistry struct {
	srv  *httptest.Server
	host string

	mu       sync.Mutex
	blobGets map[string]int // digest -> GET count
	fault    func(r *http.Request) int
}

func newTestRegistry(t testing.TB, opts ...registry.Option) *testRegistry {
	t.Helper()
	tr := &testRegistry{blobGets: map[string]int{}}
	reg := registry.New(append([]registry.Option{registry.Logger(log.New(io.Discard, "", 0))}, opts...)...)
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		fault := tr.fault
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			tr.blobGets[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]++
		}
		tr.mu.Unlock()
		if fault != nil {
			if status := fault(r); status != 0 {
				w.WriteHeader(status)
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

func (tr *testRegistry) blobGetCount(d v1.Hash) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.blobGets[d.String()]
}

func (tr *testRegistry) setFault(f func(r *http.Request) int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.fault = f
}

func (tr *testRegistry) ref(t testing.TB, repoTag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(tr.host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (tr *testRegistry) pushImage(t testing.TB, repoTag string, img v1.Image) name.Digest {
	t.Helper()
	ref := tr.ref(t, repoTag)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String())
}

// pushRaw uploads blobs and a raw manifest as an OCI artifact client would.
func (tr *testRegistry) pushRaw(t testing.TB, repoTag, mediaType string, manifest []byte, blobs map[string][]byte) name.Digest {
	t.Helper()
	ref := tr.ref(t, repoTag)
	for _, b := range blobs {
		if err := remote.WriteLayer(ref.Context(), static.NewLayer(b, types.MediaType("application/octet-stream"))); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/v2/%s/manifests/%s", tr.srv.URL, ref.Context().RepositoryStr(), ref.Identifier()), bytes.NewReader(manifest))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push manifest: %s", resp.Status)
	}
	d, _, err := v1.SHA256(bytes.NewReader(manifest))
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String())
}

// fixtures are built once per test process.
type fixtureSet struct {
	base, goApp, nodeApp, javaApp, armGoApp v1.Image
	baseDigest                              v1.Hash
}

var (
	fixturesOnce sync.Once
	fixtures     fixtureSet
	fixturesErr  error
)

const (
	goRepoURL     = "https://github.com/acme/payments-api"
	goRevision    = "4f2c1d0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
	javaRepoURL   = "https://git.example.com/acme/ledger.git"
	javaRevision  = "0123456789abcdef0123456789abcdef01234567"
	baseImageName = "docker.io/library/debian:12"
)

func loadFixtures(t testing.TB) fixtureSet {
	t.Helper()
	fixturesOnce.Do(func() {
		f := &fixtures
		build := func() error {
			var err error
			if f.base, err = testimages.DebianBase(); err != nil {
				return err
			}
			if f.baseDigest, err = f.base.Digest(); err != nil {
				return err
			}
			if f.goApp, err = testimages.GoApp(f.base, "payments-api"); err != nil {
				return err
			}
			if f.goApp, err = testimages.WithLabels(f.goApp, testimages.OCILabels(goRepoURL, goRevision, testimages.Epoch)); err != nil {
				return err
			}
			if f.goApp, err = testimages.WithBaseAnnotations(f.goApp, baseImageName, f.baseDigest); err != nil {
				return err
			}
			if f.nodeApp, err = testimages.NodeApp(f.base, "checkout-web"); err != nil {
				return err
			}
			if f.javaApp, err = testimages.JavaApp(f.base, "ledger-service"); err != nil {
				return err
			}
			if f.javaApp, err = testimages.WithLabels(f.javaApp, testimages.LabelSchemaLabels(javaRepoURL, javaRevision, testimages.Epoch)); err != nil {
				return err
			}
			arm, err := testimages.DebianBaseFor(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
			if err != nil {
				return err
			}
			f.armGoApp, err = testimages.GoApp(arm, "payments-api")
			return err
		}
		fixturesErr = build()
	})
	if fixturesErr != nil {
		t.Fatal(fixturesErr)
	}
	return fixtures
}

func newAnalyzer(t testing.TB, opts ...Option) *Analyzer {
	t.Helper()
	opts = append([]Option{WithCacheDir(t.TempDir()), WithLogger(hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: io.Discard}))}, opts...)
	a, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func findPackage(md Metadata, e testimages.Expect) (PackageLayer, bool) {
	for _, p := range md.Packages {
		if p.Type == e.Ecosystem && p.Name == e.Name && p.Version == e.Version {
			return p, true
		}
	}
	return PackageLayer{}, false
}

func diffIDs(t testing.TB, img v1.Image) []string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range cf.RootFS.DiffIDs {
		out = append(out, d.String())
	}
	return out
}

// assertPackagesIn checks that every expected package is found and introduced by the layer at index layer.
func assertPackagesIn(t *testing.T, md Metadata, img v1.Image, layer int, expects ...testimages.Expect) {
	t.Helper()
	want := diffIDs(t, img)[layer]
	for _, e := range expects {
		p, ok := findPackage(md, e)
		if !ok {
			t.Errorf("syft did not find %s", e)
			continue
		}
		if p.Layer != want {
			t.Errorf("%s introduced by %s, want layer %d (%s)", e, p.Layer, layer, want)
		}
	}
}

// TestAnalyzeFixtures analyses the Go, Node and Java images in sequence with one analyzer and an empty cache:
// packages per ecosystem, the layer that introduced them, metadata, SBOM documents, and the shared base layer
// downloaded only once.
func TestAnalyzeFixtures(t *testing.T) {
	f := loadFixtures(t)
	reg := newTestRegistry(t)
	a := newAnalyzer(t, WithFormats(SupportedFormats), WithParallelism(2))
	ctx := context.Background()

	goRef := reg.pushImage(t, "docker-dev/shop/payments-api:1.0.0", f.goApp)
	nodeRef := reg.pushImage(t, "docker-dev/shop/checkout-web:1.0.0", f.nodeApp)
	javaRef := reg.pushImage(t, "docker-dev/shop/ledger-service:1.0.0", f.javaApp)
	baseLayers, _ := f.base.Layers()
	baseLayer, _ := baseLayers[0].Digest()

	start := time.Now()
	goRes, err := a.Analyze(ctx, goRef)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("go app analysed in %s (pull %s, catalog %s, encode %s)", time.Since(start), goRes.Stats.Pull, goRes.Stats.Catalog, goRes.Stats.Encode)

	t.Run("go", func(t *testing.T) {
		md := goRes.Metadata
		assertPackagesIn(t, md, f.goApp, 0, testimages.DebianPackages...)
		assertPackagesIn(t, md, f.goApp, 1, testimages.GoPackages...)
		mods, err := testimages.GoBinaryModules(v1.Platform{OS: "linux", Architecture: "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		for path, version := range mods {
			if _, ok := findPackage(md, testimages.Expect{Ecosystem: "go-module", Name: path, Version: version}); !ok {
				t.Errorf("syft did not find linked module %s %s", path, version)
			}
		}
		if md.PackageCount != len(md.Packages) || md.PackageCount < len(testimages.DebianPackages)+len(mods) {
			t.Errorf("package count %d, packages %d", md.PackageCount, len(md.Packages))
		}
		if md.Source != (Source{URL: goRepoURL, Revision: goRevision}) {
			t.Errorf("source %+v", md.Source)
		}
		if md.BaseImage == nil || md.BaseImage.Name != baseImageName || md.BaseImage.Digest != f.baseDigest.String() || md.BaseImage.DerivedFrom != "annotations" {
			t.Errorf("base image %+v", md.BaseImage)
		}
		assertImageMetadata(t, md, f.goApp, goRef)
	})

	nodeRes, err := a.Analyze(ctx, nodeRef)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("node", func(t *testing.T) {
		md := nodeRes.Metadata
		assertPackagesIn(t, md, f.nodeApp, 0, testimages.DebianPackages...)
		assertPackagesIn(t, md, f.nodeApp, 2, testimages.NpmPackages...)
		for _, e := range testimages.NpmDevPackages {
			if _, ok := findPackage(md, e); ok {
				t.Errorf("dev dependency %s reported", e)
			}
		}
		if md.Source != (Source{}) || md.BaseImage != nil {
			t.Errorf("unlabelled image has source %+v base %+v", md.Source, md.BaseImage)
		}
		assertImageMetadata(t, md, f.nodeApp, nodeRef)
	})

	t.Run("base layer fetched once", func(t *testing.T) {
		if n := reg.blobGetCount(baseLayer); n != 1 {
			t.Errorf("base layer downloaded %d times, want 1", n)
		}
		if goRes.Stats.LayersFetched != 3 || goRes.Stats.LayersCached != 0 {
			t.Errorf("first image stats %+v", goRes.Stats)
		}
		if nodeRes.Stats.LayersFetched != 3 || nodeRes.Stats.LayersCached != 1 {
			t.Errorf("second image stats %+v: base layer not reused", nodeRes.Stats)
		}
	})

	javaRes, err := a.Analyze(ctx, javaRef)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("java", func(t *testing.T) {
		md := javaRes.Metadata
		assertPackagesIn(t, md, f.javaApp, 0, testimages.DebianPackages...)
		// the JRE layer rewrote the dpkg database: the JRE is introduced there, the base packages stay in layer 0
		assertPackagesIn(t, md, f.javaApp, 1, testimages.JavaDebPackages...)
		assertPackagesIn(t, md, f.javaApp, 2, append([]testimages.Expect{testimages.JavaAppArtifact("ledger-service")}, testimages.JavaPackages...)...)
		for _, p := range md.Packages {
			if p.Type == "java-archive" && !strings.HasPrefix(p.PURL, "pkg:maven/") {
				t.Errorf("java package %s has purl %q", p.Name, p.PURL)
			}
		}
		if md.Source != (Source{URL: javaRepoURL, Revision: javaRevision}) {
			t.Errorf("label-schema source %+v", md.Source)
		}
		assertImageMetadata(t, md, f.javaApp, javaRef)
		if n := reg.blobGetCount(baseLayer); n != 1 {
			t.Errorf("base layer downloaded %d times after three images, want 1", n)
		}
	})

	t.Run("sbom documents", func(t *testing.T) {
		for _, res := range []*Result{goRes, nodeRes, javaRes} {
			assertSBOMs(t, res)
		}
		var cdx struct {
			Components []struct{ Name, Version, Purl string } `json:"components"`
		}
		if err := json.Unmarshal(goRes.SBOMs[FormatCycloneDXJSON], &cdx); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range cdx.Components {
			if c.Name == "github.com/google/uuid" && c.Version == "v1.6.0" && strings.HasPrefix(c.Purl, "pkg:golang/github.com/google/uuid@v1.6.0") {
				found = true
			}
		}
		if !found {
			t.Error("CycloneDX document lacks github.com/google/uuid v1.6.0")
		}
	})
}

// assertImageMetadata compares metadata with the image it describes.
func assertImageMetadata(t *testing.T, md Metadata, img v1.Image, ref name.Digest) {
	t.Helper()
	d, _ := img.Digest()
	mt, _ := img.MediaType()
	m, _ := img.Manifest()
	cf, _ := img.ConfigFile()
	if md.Digest != d.String() || md.Digest != ref.DigestStr() || md.MediaType != string(mt) {
		t.Errorf("digest %s media type %s", md.Digest, md.MediaType)
	}
	if md.Platform.OS != cf.OS || md.Platform.Architecture != cf.Architecture {
		t.Errorf("platform %+v", md.Platform)
	}
	if md.Created == nil || !md.Created.Equal(cf.Created.Time) {
		t.Errorf("created %v, config says %v", md.Created, cf.Created)
	}
	if len(md.History) != len(cf.History) {
		t.Fatalf("history has %d entries, config %d", len(md.History), len(cf.History))
	}
	for i, h := range cf.History {
		if md.History[i].CreatedBy != h.CreatedBy || md.History[i].EmptyLayer != h.EmptyLayer {
			t.Errorf("history[%d] %+v, config %+v", i, md.History[i], h)
		}
	}
	if len(md.Layers) != len(m.Layers) {
		t.Fatalf("%d layers, manifest %d", len(md.Layers), len(m.Layers))
	}
	for i, l := range m.Layers {
		got := md.Layers[i]
		if got.Digest != l.Digest.String() || got.Size != l.Size || got.MediaType != string(l.MediaType) || got.DiffID != cf.RootFS.DiffIDs[i].String() {
			t.Errorf("layer[%d] %+v, manifest %+v", i, got, l)
		}
	}
	if md.Labels[testimages.LabelOCITitle] == "" {
		t.Errorf("labels %v", md.Labels)
	}
	if time.Since(md.AnalyzedAt) > time.Hour {
		t.Errorf("analyzed_at %v", md.AnalyzedAt)
	}
}

// assertSBOMs decodes each document and checks it is of its kind and lists the packages.
func assertSBOMs(t *testing.T, res *Result) {
	t.Helper()
	if len(res.SBOMs) != len(SupportedFormats) {
		t.Fatalf("%d documents, want %d", len(res.SBOMs), len(SupportedFormats))
	}
	var cdx struct {
		BOMFormat   string            `json:"bomFormat"`
		SpecVersion string            `json:"specVersion"`
		Components  []json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(res.SBOMs[FormatCycloneDXJSON], &cdx); err != nil {
		t.Fatalf("cyclonedx: %v", err)
	}
	if cdx.BOMFormat != "CycloneDX" || cdx.SpecVersion == "" || len(cdx.Components) < res.Metadata.PackageCount {
		t.Errorf("cyclonedx: format %q spec %q components %d (packages %d)", cdx.BOMFormat, cdx.SpecVersion, len(cdx.Components), res.Metadata.PackageCount)
	}
	var spdx struct {
		SPDXVersion string            `json:"spdxVersion"`
		Packages    []json.RawMessage `json:"packages"`
	}
	if err := json.Unmarshal(res.SBOMs[FormatSPDXJSON], &spdx); err != nil {
		t.Fatalf("spdx: %v", err)
	}
	if !strings.HasPrefix(spdx.SPDXVersion, "SPDX-") || len(spdx.Packages) < res.Metadata.PackageCount {
		t.Errorf("spdx: version %q packages %d", spdx.SPDXVersion, len(spdx.Packages))
	}
	var syftDoc struct {
		Artifacts []json.RawMessage `json:"artifacts"`
		Source    struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"source"`
	}
	if err := json.Unmarshal(res.SBOMs[FormatSyftJSON], &syftDoc); err != nil {
		t.Fatalf("syft: %v", err)
	}
	if len(syftDoc.Artifacts) != res.Metadata.PackageCount {
		t.Errorf("syft: %d artifacts, %d packages", len(syftDoc.Artifacts), res.Metadata.PackageCount)
	}
	if syftDoc.Source.Version != res.Metadata.Digest || strings.Contains(syftDoc.Source.Name, os.TempDir()) {
		t.Errorf("syft source %+v: should name the image, not a temporary path", syftDoc.Source)
	}
}

func TestResolveMultiPlatformIndex(t *testing.T) {
	f := loadFixtures(t)
	reg := newTestRegistry(t)
	a := newAnalyzer(t)
	ctx := context.Background()

	idx, err := testimages.MultiPlatformWithAttestations(map[string]v1.Image{"linux/amd64": f.goApp, "linux/arm64/v8": f.armGoApp})
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.ref(t, "docker-dev/shop/payments-api:multi")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()

	res, err := a.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != idxDigest.String() || !res.IsIndex() || res.Skipped != "" {
		t.Fatalf("resolved %+v", res)
	}
	if len(res.Platforms) != 2 {
		t.Fatalf("%d platforms (attestations must be skipped): %+v", len(res.Platforms), res.Platforms)
	}
	amdDigest, _ := f.goApp.Digest()
	armDigest, _ := f.armGoApp.Digest()
	got := map[string]string{}
	for _, p := range res.Platforms {
		got[p.Platform.String()] = p.Digest
	}
	if got["linux/amd64"] != amdDigest.String() || got["linux/arm64/v8"] != armDigest.String() {
		t.Errorf("platforms %v", got)
	}
	md := res.Metadata(time.Now())
	if len(md.Platforms) != 2 || md.Digest != idxDigest.String() {
		t.Errorf("index metadata %+v", md)
	}

	// the arm64 manifest analyses as arm64, with the arm64 binary's modules
	armRes, err := a.Analyze(ctx, ref.Context().Digest(armDigest.String()))
	if err != nil {
		t.Fatal(err)
	}
	if p := armRes.Metadata.Platform; p.Architecture != "arm64" || p.Variant != "v8" {
		t.Errorf("platform %+v", p)
	}
	assertPackagesIn(t, armRes.Metadata, f.armGoApp, 1, testimages.GoPackages...)
	if _, ok := findPackage(armRes.Metadata, testimages.Expect{Ecosystem: "deb", Name: "libc6", Version: "2.36-9+deb12u8"}); !ok {
		t.Error("arm64 libc6 not found")
	}

	// Analyze refuses an index: it takes platform manifests
	if _, err := a.Analyze(ctx, ref.Context().Digest(idxDigest.String())); !IsPermanent(err) {
		t.Errorf("analysing an index: %v, want a permanent error", err)
	}
}

func TestResolveSingleManifest(t *testing.T) {
	f := loadFixtures(t)
	reg := newTestRegistry(t)
	a := newAnalyzer(t)
	d := reg.pushImage(t, "docker-dev/shop/checkout-web:2", f.nodeApp)
	res, err := a.Resolve(context.Background(), reg.ref(t, "docker-dev/shop/checkout-web:2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.IsIndex() || res.Digest != d.DigestStr() || res.MediaType != string(types.OCIManifestSchema1) || len(res.Platforms) != 1 {
		t.Fatalf("resolved %+v", res)
	}
	if p := res.Platforms[0]; p.Digest != d.DigestStr() || p.Platform.OS != "linux" || p.Platform.Architecture != "amd64" {
		t.Errorf("target %+v", p)
	}
	// the config fetched to learn the platform is cached for Analyze
	m, _ := f.nodeApp.Manifest()
	if n := reg.blobGetCount(m.Config.Digest); n != 1 {
		t.Fatalf("config fetched %d times", n)
	}
	if !a.cache.has(m.Config.Digest, m.Config.Size) {
		t.Error("config not cached by Resolve")
	}
}

func TestHelmChartIsSkipped(t *testing.T) {
	reg := newTestRegistry(t)
	a := newAnalyzer(t)
	ctx := context.Background()
	mt, manifest, blobs, err := testimages.HelmChart()
	if err != nil {
		t.Fatal(err)
	}
	d := reg.pushRaw(t, "helm-local/charts/webapp:0.3.1", mt, manifest, blobs)

	res, err := a.Resolve(ctx, reg.ref(t, "helm-local/charts/webapp:0.3.1"))
	if err != nil {
		t.Fatalf("a Helm chart must resolve as skipped, not fail: %v", err)
	}
	if !strings.Contains(res.Skipped, "Helm chart") || !strings.Contains(res.Skipped, testimages.HelmConfigMediaType) || len(res.Platforms) != 0 {
		t.Errorf("resolved %+v", res)
	}
	_, err = a.Analyze(ctx, d)
	reason, ok := IsSkip(err)
	if !ok || !strings.Contains(reason, "Helm chart") || !IsPermanent(err) {
		t.Errorf("analyse: %v (skip %v)", err, ok)
	}
	// nothing but the manifest was needed to decide
	for digest := range blobs {
		h, _ := v1.NewHash(digest)
		if n := reg.blobGetCount(h); n != 0 {
			t.Errorf("blob %s fetched %d times", digest, n)
		}
	}
}

func TestMalformedAndMissingManifestsArePermanent(t *testing.T) {
	reg := newTestRegistry(t)
	a := newAnalyzer(t)
	ctx := context.Background()
	cases := map[string]struct {
		mediaType   string
		body        string
		want        string
		wantAnalyze string // when Analyze words it differently
	}{
		"invalid json":    {string(types.OCIManifestSchema1), `{"schemaVersion": 2, "config": {`, "malformed manifest", ""},
		"no config":       {string(types.OCIManifestSchema1), `{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}`, "config has no digest", ""},
		"schema version":  {string(types.DockerManifestSchema2), `{"schemaVersion": 3, "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:` + strings.Repeat("a", 64) + `", "size": 2}}`, "schemaVersion 3", ""},
		"invalid index":   {string(types.OCIImageIndex), `{"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1}]}`, "no digest", "is an image index"},
		"schema 1":        {string(types.DockerManifestSchema1Signed), `{"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}`, "schema 1", ""},
		"unknown content": {"text/plain", `hello`, "malformed manifest", ""},
	}
	for caseName, c := range cases {
		t.Run(caseName, func(t *testing.T) {
			repoTag := "docker-dev/broken:" + strings.ReplaceAll(caseName, " ", "-")
			var d name.Digest
			if c.mediaType == string(types.OCIImageIndex) {
				// the registry checks an index's children on push: send it as plain JSON (served back as such, so
				// the analyzer has to recognise the index from its body)
				d = reg.pushRaw(t, repoTag, "application/json", []byte(c.body), nil)
			} else {
				d = reg.pushRaw(t, repoTag, c.mediaType, []byte(c.body), nil)
			}
			_, rerr := a.Resolve(ctx, reg.ref(t, repoTag))
			_, aerr := a.Analyze(ctx, d)
			for op, err := range map[string]error{"resolve": rerr, "analyze": aerr} {
				want := c.want
				if op == "analyze" && c.wantAnalyze != "" {
					want = c.wantAnalyze
				}
				if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %v, want a permanent error containing %q", op, err, want)
				}
				if err != nil && !strings.Contains(err.Error(), "docker-dev/broken") {
					t.Errorf("%s: error does not name the image: %v", op, err)
				}
			}
		})
	}

	t.Run("not found", func(t *testing.T) {
		_, err := a.Resolve(ctx, reg.ref(t, "docker-dev/missing:1"))
		if !IsPermanent(err) || StatusCode(err) != http.StatusNotFound {
			t.Errorf("%v (status %d), want permanent 404", err, StatusCode(err))
		}
	})

	t.Run("server error is retryable", func(t *testing.T) {
		reg.setFault(func(r *http.Request) int {
			if strings.Contains(r.URL.Path, "/manifests/") {
				return http.StatusServiceUnavailable
			}
			return 0
		})
		defer reg.setFault(nil)
		_, err := a.Resolve(ctx, reg.ref(t, "docker-dev/broken:x"), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))
		if err == nil || IsPermanent(err) || StatusCode(err) != http.StatusServiceUnavailable {
			t.Errorf("%v (status %d), want a retryable 503", err, StatusCode(err))
		}
	})
}

// TestConcurrentAnalysesShareDownloads analyses two images on one base at the same time with an empty cache:
// the base layer is downloaded once, and no temporary file survives.
func TestConcurrentAnalysesShareDownloads(t *testing.T) {
	f := loadFixtures(t)
	reg := newTestRegistry(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // everything syft/stereoscope unpacks lands here
	a := newAnalyzer(t, WithScope("squashed"))
	goRef := reg.pushImage(t, "docker-dev/a:1", f.goApp)
	javaRef := reg.pushImage(t, "docker-dev/b:1", f.javaApp) // nested jars: syft unpacks them to temporary files

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, ref := range []name.Digest{goRef, javaRef} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = a.Analyze(context.Background(), ref)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	baseLayers, _ := f.base.Layers()
	bl, _ := baseLayers[0].Digest()
	if n := reg.blobGetCount(bl); n != 1 {
		t.Errorf("base layer downloaded %d times by concurrent analyses, want 1", n)
	}
	var left []string
	filepath.WalkDir(tmp, func(p string, d os.DirEntry, err error) error {
		if p != tmp && err == nil {
			left = append(left, strings.TrimPrefix(p, tmp))
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	for caseName, opts := range map[string][]Option{
		"unknown format":       {WithFormats([]string{"cyclonedx-xml"})},
		"negative parallelism": {WithParallelism(-1)},
		"unknown scope":        {WithScope("everything")},
	} {
		if _, err := New(append(opts, WithCacheDir(t.TempDir()))...); err == nil {
			t.Errorf("%s: accepted", caseName)
		}
	}
	_, err := New(WithFormats([]string{"spdx-json", "cyclonedx-xml"}), WithCacheDir(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), `"cyclonedx-xml"`) || !strings.Contains(err.Error(), "cyclonedx-json") {
		t.Errorf("error should name the bad format and the supported ones: %v", err)
	}
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	dir := a.CacheDir()
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		t.Errorf("cache is not an OCI layout: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary cache %s not removed by Close", dir)
	}
}

func TestLayerPrefixBase(t *testing.T) {
	candidates := map[string][]string{
		"sha256:base":     {"l1"},
		"sha256:runtime":  {"l1", "l2"},
		"sha256:runtime2": {"l1", "l2"}, // same layers, relabelled
		"sha256:other":    {"l9", "l2"},
		"sha256:self":     {"l1", "l2", "l3"},
		"sha256:empty":    {},
	}
	if d, ok := LayerPrefixBase([]string{"l1", "l2", "l3"}, candidates); !ok || d != "sha256:runtime" {
		t.Errorf("got %s %v, want the longest strict prefix (smallest digest on ties)", d, ok)
	}
	if d, ok := LayerPrefixBase([]string{"l1", "l5"}, candidates); !ok || d != "sha256:base" {
		t.Errorf("got %s %v", d, ok)
	}
	if d, ok := LayerPrefixBase([]string{"l1"}, candidates); ok {
		t.Errorf("an image is not its own base: got %s", d)
	}
	if _, ok := LayerPrefixBase([]string{"x"}, candidates); ok {
		t.Error("no prefix must not match")
	}
}

func TestLogBridgesRedactSecrets(t *testing.T) {
	var buf bytes.Buffer
	l := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace})
	w := &hclogWriter{l: l, level: hclog.Trace, redact: true}
	fmt.Fprintf(w, "GET /v2/ HTTP/1.1\r\nX-JFrog-Art-Api: AKCp8secretsecret\r\nAuthorization: Basic dXNlcjpwYXNz\r\nAccept: */*\r\n")
	out := buf.String()
	if strings.Contains(out, "AKCp8secret") || strings.Contains(out, "dXNlcjpwYXNz") || !strings.Contains(out, "Accept") {
		t.Errorf("not redacted: %s", out)
	}
	buf.Reset()
	var target atomic.Pointer[hclog.Logger]
	ad := (&anchoreAdapter{target: &target}).Nested("from", "syft")
	ad.Warnf("dropped before the bridge")
	if buf.Len() != 0 {
		t.Errorf("logged before the bridge: %s", buf.String())
	}
	target.Store(&l)
	ad.WithFields("cataloger", "dpkg").Warnf("could not read %s", "x")
	if out := buf.String(); !strings.Contains(out, "[WARN]") || !strings.Contains(out, "cataloger=dpkg") || !strings.Contains(out, "from=syft") {
		t.Errorf("adapter output: %s", out)
	}
}

func BenchmarkAnalyze(b *testing.B) {
	f := loadFixtures(b)
	reg := newTestRegistry(b)
	for _, scope := range []string{"squashed", "deep-squashed"} {
		b.Run(scope, func(b *testing.B) {
			a := newAnalyzer(b, WithScope(scope), WithFormats([]string{FormatCycloneDXJSON}))
			ref := reg.pushImage(b, "docker-dev/bench/java:1", f.javaApp)
			if _, err := a.Analyze(context.Background(), ref); err != nil { // warm the blob cache
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				res, err := a.Analyze(context.Background(), ref)
				if err != nil {
					b.Fatal(err)
				}
				if res.Stats.LayersFetched != 0 {
					b.Fatal("cache not used")
				}
			}
		})
	}
}

// TestCacheIsPrunedToLimit: with a limit smaller than one image, each analysis keeps only the blobs of the
// image it just analysed; evicted layers are fetched again when needed.
func TestCacheIsPrunedToLimit(t *testing.T) {
	f := loadFixtures(t)
	reg := newTestRegistry(t)
	a := newAnalyzer(t, WithCacheMaxBytes(1), WithScope("squashed"))
	ctx := context.Background()
	goRef := reg.pushImage(t, "docker-dev/go:1", f.goApp)
	nodeRef := reg.pushImage(t, "docker-dev/node:1", f.nodeApp)
	goLayers, _ := f.goApp.Layers()
	binLayer, _ := goLayers[1].Digest()
	baseLayer, _ := goLayers[0].Digest()

	for _, ref := range []name.Digest{goRef, nodeRef} {
		if _, err := a.Analyze(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if a.cache.has(binLayer, -1) {
		t.Error("the Go binary layer survived pruning after the Node image")
	}
	if !a.cache.has(baseLayer, -1) {
		t.Error("the base layer of the image just analysed was pruned")
	}
	res, err := a.Analyze(ctx, goRef)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.LayersFetched != 2 || reg.blobGetCount(binLayer) != 2 || reg.blobGetCount(baseLayer) != 1 {
		t.Errorf("after eviction: stats %+v, binary layer GETs %d, base layer GETs %d", res.Stats, reg.blobGetCount(binLayer), reg.blobGetCount(baseLayer))
	}
	if removed, _, err := a.PruneCache(0); err != nil || removed == 0 {
		t.Errorf("PruneCache(0) removed %d: %v", removed, err)
	}
}
