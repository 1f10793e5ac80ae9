package testimages

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// readFile returns the content of p in img's flattened filesystem.
func readFile(t *testing.T, img v1.Image, p string) []byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s not found in image", p)
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == strings.TrimPrefix(p, "/") {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDebianBaseIsDeterministicAndValid(t *testing.T) {
	a, err := DebianBase()
	if err != nil {
		t.Fatal(err)
	}
	b, err := DebianBase()
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, a) != digest(t, b) {
		t.Fatalf("two builds differ: %s vs %s", digest(t, a), digest(t, b))
	}
	if err := validate.Image(a); err != nil {
		t.Fatalf("invalid image: %v", err)
	}
	mt, _ := a.MediaType()
	if mt != types.OCIManifestSchema1 {
		t.Errorf("media type %s", mt)
	}
	status := string(readFile(t, a, "/var/lib/dpkg/status"))
	for _, p := range DebianPackages {
		if !strings.Contains(status, "Package: "+p.Name+"\n") || !strings.Contains(status, "Version: "+p.Version+"\n") {
			t.Errorf("dpkg status lacks %s", p)
		}
	}
	if got := strings.Count(status, "\n\nPackage: ") + 1; got != len(DebianPackages) {
		t.Errorf("status has %d stanzas, want %d", got, len(DebianPackages))
	}
	if !strings.Contains(string(readFile(t, a, "/usr/lib/os-release")), "VERSION_ID=\"12\"") {
		t.Error("os-release is not debian 12")
	}
	cf, _ := a.ConfigFile()
	if cf.Architecture != "amd64" || cf.OS != "linux" || len(cf.History) != 2 || !cf.History[1].EmptyLayer {
		t.Errorf("config: %s/%s history %+v", cf.OS, cf.Architecture, cf.History)
	}

	arm, err := DebianBaseFor(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readFile(t, arm, "/var/lib/dpkg/status")), "Architecture: arm64\n") {
		t.Error("arm64 base has no arm64 packages")
	}
}

func TestGoAppBinaryHasBuildInfo(t *testing.T) {
	base, err := DebianBase()
	if err != nil {
		t.Fatal(err)
	}
	img, err := GoApp(base, "payments-api")
	if err != nil {
		t.Fatal(err)
	}
	bin := readFile(t, img, "/usr/local/bin/payments-api")
	if !bytes.HasPrefix(bin, []byte("\x7fELF")) {
		t.Fatal("not an ELF binary")
	}
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	if bi.Main.Path != goAppModule {
		t.Errorf("main module %q", bi.Main.Path)
	}
	deps := map[string]string{}
	for _, d := range bi.Deps {
		deps[d.Path] = d.Version
	}
	for _, e := range GoPackages {
		if deps[e.Name] != e.Version {
			t.Errorf("binary has %s %q, want %q", e.Name, deps[e.Name], e.Version)
		}
	}
	// base layer shared, two layers added
	bl, _ := base.Layers()
	il, _ := img.Layers()
	if len(il) != len(bl)+2 {
		t.Fatalf("layers %d, base %d", len(il), len(bl))
	}
	d0, _ := bl[0].Digest()
	d1, _ := il[0].Digest()
	if d0 != d1 {
		t.Error("base layer not shared")
	}
	again, err := GoApp(base, "payments-api")
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, img) != digest(t, again) {
		t.Error("GoApp is not deterministic")
	}

	arm, err := DebianBaseFor(v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	armApp, err := GoApp(arm, "payments-api")
	if err != nil {
		t.Fatal(err)
	}
	armInfo, err := buildinfo.Read(bytes.NewReader(readFile(t, armApp, "/usr/local/bin/payments-api")))
	if err != nil {
		t.Fatal(err)
	}
	if s := armInfo.String(); !strings.Contains(s, "GOARCH=arm64") {
		t.Errorf("arm64 app binary build info:\n%s", s)
	}
}

func TestNodeAndJavaApps(t *testing.T) {
	base, err := DebianBase()
	if err != nil {
		t.Fatal(err)
	}
	node, err := NodeApp(base, "checkout-web")
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Version string `json:"version"`
			Dev     bool   `json:"dev"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(readFile(t, node, "/app/package-lock.json"), &lock); err != nil {
		t.Fatal(err)
	}
	if lock.LockfileVersion != 3 {
		t.Errorf("lockfileVersion %d", lock.LockfileVersion)
	}
	for _, e := range append(append([]Expect{}, NpmPackages...), NpmDevPackages...) {
		if lock.Packages["node_modules/"+e.Name].Version != e.Version {
			t.Errorf("lockfile lacks %s", e)
		}
	}

	java, err := JavaApp(base, "ledger-service")
	if err != nil {
		t.Fatal(err)
	}
	jar := readFile(t, java, "/app/ledger-service.jar")
	if !bytes.HasPrefix(jar, []byte("PK\x03\x04")) {
		t.Fatal("not a zip")
	}
	for _, e := range JavaPackages {
		if !bytes.Contains(jar, []byte("BOOT-INF/lib/"+e.Name+"-"+e.Version+".jar")) {
			t.Errorf("jar lacks nested %s", e)
		}
	}
	status := string(readFile(t, java, "/var/lib/dpkg/status"))
	for _, e := range append(append([]Expect{}, DebianPackages...), JavaDebPackages...) {
		if !strings.Contains(status, "Package: "+e.Name+"\n") {
			t.Errorf("java image dpkg status lacks %s", e)
		}
	}
}

func TestLabelsAnnotationsAndIndex(t *testing.T) {
	base, err := DebianBase()
	if err != nil {
		t.Fatal(err)
	}
	img, err := WithLabels(base, OCILabels("https://github.com/acme/x", "abc123", Epoch))
	if err != nil {
		t.Fatal(err)
	}
	img, err = WithBaseAnnotations(img, "docker.io/library/debian:12", digest(t, base))
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	if cf.Config.Labels[LabelOCISource] != "https://github.com/acme/x" || cf.Config.Labels[LabelOCIRevision] != "abc123" {
		t.Errorf("labels %v", cf.Config.Labels)
	}
	m, _ := img.Manifest()
	if m.Annotations[AnnotationBaseDigest] != digest(t, base).String() {
		t.Errorf("annotations %v", m.Annotations)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}

	arm, err := DebianBaseFor(v1.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := MultiPlatformWithAttestations(map[string]v1.Image{"linux/amd64": base, "linux/arm64": arm})
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 4 {
		t.Fatalf("index has %d manifests, want 2 images + 2 attestations", len(im.Manifests))
	}
	if p := im.Manifests[0].Platform; p.Architecture != "amd64" {
		t.Errorf("first platform %v", p)
	}
	if p := im.Manifests[3].Platform; p.OS != "unknown" {
		t.Errorf("attestation platform %v", p)
	}
	// validate.Index would reject the in-toto attestation layers (not tars); validate the platform images.
	for _, d := range im.Manifests[:2] {
		child, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(child); err != nil {
			t.Fatalf("%s: %v", d.Platform, err)
		}
	}
	if _, err := MultiPlatform(map[string]v1.Image{"linux/arm64": base}); err == nil {
		t.Error("an amd64 image listed as arm64 was accepted")
	}
}

func TestHelmChart(t *testing.T) {
	mt, raw, blobs, err := HelmChart()
	if err != nil {
		t.Fatal(err)
	}
	if mt != string(types.OCIManifestSchema1) {
		t.Errorf("media type %s", mt)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != HelmConfigMediaType || len(m.Layers) != 1 || m.Layers[0].MediaType != HelmChartLayerMediaType {
		t.Fatalf("manifest %s", raw)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		b, ok := blobs[d.Digest.String()]
		if !ok || digestOf(b) != d.Digest.String() || int64(len(b)) != d.Size {
			t.Errorf("blob %s missing or inconsistent", d.Digest)
		}
	}
	_, raw2, _, _ := HelmChart()
	if !bytes.Equal(raw, raw2) {
		t.Error("HelmChart is not deterministic")
	}
}

func TestLargeStreamsDeterministicData(t *testing.T) {
	base, err := DebianBase()
	if err != nil {
		t.Fatal(err)
	}
	img, err := Large(base, 3)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	top := layers[len(layers)-1]
	size, err := top.Size()
	if err != nil {
		t.Fatal(err)
	}
	if size < 3<<20 {
		t.Errorf("compressed size %d < 3 MiB: data is compressible", size)
	}
	again, _ := Large(base, 3)
	if digest(t, img) != digest(t, again) {
		t.Error("Large is not deterministic")
	}
}

func TestCorpus(t *testing.T) {
	entries, err := Corpus()
	if err != nil {
		t.Fatal(err)
	}
	want := len(CorpusApps) * (len(CorpusVersions) + 3)
	if len(entries) != want {
		t.Fatalf("%d entries, want %d", len(entries), want)
	}
	digests := map[v1.Hash]bool{}
	byRef := map[string]v1.Hash{}
	baseLayers := map[v1.Hash]bool{}
	for _, e := range entries {
		d := digest(t, e.Image)
		digests[d] = true
		byRef[e.Repository+"/"+e.Name+":"+e.Tag] = d
		ls, err := e.Image.Layers()
		if err != nil {
			t.Fatal(err)
		}
		ld, _ := ls[0].Digest()
		baseLayers[ld] = true
	}
	if len(digests) != len(CorpusApps)*len(CorpusVersions) {
		t.Errorf("%d distinct digests, want %d", len(digests), len(CorpusApps)*len(CorpusVersions))
	}
	if len(baseLayers) != 1 {
		t.Errorf("corpus has %d distinct base layers, want 1 shared", len(baseLayers))
	}
	for _, app := range CorpusApps {
		dev := byRef[CorpusDevRepository+"/"+app.Name+":1.2.0"]
		if byRef[CorpusProdRepository+"/"+app.Name+":stable"] != dev || byRef[CorpusDevRepository+"/"+app.Name+":latest"] != dev {
			t.Errorf("%s: promoted digest differs", app.Name)
		}
	}
}
