package output

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestDirectoryLayoutContentAndModes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "results")
	d, err := NewDirectory(root)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "directory:"+root {
		t.Fatalf("Name = %q", d.Name())
	}
	dg := digestN(1)
	meta := metadataJSON(t, dg, appTags("registry.example:8082"), nil)
	sboms := sbomsN(1)
	if err := d.Deliver(t.Context(), mustArtifact(t, meta, sboms)); err != nil {
		t.Fatal(err)
	}
	hex := strings.TrimPrefix(dg, "sha256:")
	want := []string{
		"sha256/" + hex + "/metadata.json",
		"sha256/" + hex + "/sbom.cdx.json",
		"sha256/" + hex + "/sbom.spdx.json",
		"sha256/" + hex + "/sbom.syft.json",
	}
	if got := listFiles(t, root); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("files = %v, want %v", got, want)
	}
	target := d.PathFor(dg)
	for format, name := range map[string]string{FormatCycloneDXJSON: "sbom.cdx.json", FormatSPDXJSON: "sbom.spdx.json", FormatSyftJSON: "sbom.syft.json"} {
		b, err := os.ReadFile(filepath.Join(target, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, sboms[format]) {
			t.Errorf("%s = %s, want the %s document byte for byte", name, b, format)
		}
	}
	b, err := os.ReadFile(filepath.Join(target, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, b, meta) {
		t.Fatalf("metadata.json = %s", b)
	}
	var keys map[string]json.RawMessage
	_ = json.Unmarshal(b, &keys)
	for _, k := range []string{"digest", "media_type", "platform", "tags", "created", "source", "history", "layers", "base_image", "package_count", "analyzed_at"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("metadata.json lacks %q", k)
		}
	}
	for _, p := range []string{root, filepath.Join(root, "sha256"), target} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("dir %s mode = %v, want 0700", p, fi.Mode().Perm())
		}
	}
	for _, f := range listFiles(t, root) {
		fi, _ := os.Stat(filepath.Join(root, f))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("file %s mode = %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

func TestDirectoryRedeliveryIsIdempotent(t *testing.T) {
	root := t.TempDir()
	d, err := NewDirectory(root)
	if err != nil {
		t.Fatal(err)
	}
	a := mustArtifact(t, metadataJSON(t, digestN(2), appTags("h"), nil), sbomsN(2))
	snapshot := func() map[string]string {
		out := map[string]string{}
		for _, f := range listFiles(t, root) {
			b, _ := os.ReadFile(filepath.Join(root, f))
			out[f] = string(b)
		}
		return out
	}
	if err := d.Deliver(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	first := snapshot()
	for range 3 {
		if err := d.Deliver(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	second := snapshot()
	if len(first) != 4 || len(second) != len(first) {
		t.Fatalf("files changed on re-delivery: %v vs %v", keysOf(first), keysOf(second))
	}
	for k, v := range first {
		if second[k] != v {
			t.Errorf("%s changed on re-delivery", k)
		}
	}
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Readers racing a re-delivery with different content must only ever see one of
// the complete versions of each file.
func TestDirectoryNeverExposesPartialFiles(t *testing.T) {
	root := t.TempDir()
	d, err := NewDirectory(root)
	if err != nil {
		t.Fatal(err)
	}
	dg := digestN(3)
	big := func(fill string) map[string][]byte {
		// ~1 MiB document: large enough that a non-atomic write is observable.
		doc := `{"bomFormat":"CycloneDX","components":[` + strings.Repeat(`{"name":"`+fill+`"},`, 80_000) + `{"name":"end"}]}`
		return map[string][]byte{FormatCycloneDXJSON: []byte(doc)}
	}
	versions := []Artifact{
		mustArtifact(t, metadataJSON(t, dg, appTags("h"), map[string]any{"package_count": 1}), big("a")),
		mustArtifact(t, metadataJSON(t, dg, appTags("h"), map[string]any{"package_count": 2}), big("b")),
	}
	if err := d.Deliver(t.Context(), versions[0]); err != nil {
		t.Fatal(err)
	}
	sbomPath := filepath.Join(d.PathFor(dg), "sbom.cdx.json")
	valid := map[string]bool{string(versions[0].SBOMs[FormatCycloneDXJSON]): true, string(versions[1].SBOMs[FormatCycloneDXJSON]): true}

	var (
		stop  atomic.Bool
		reads atomic.Int64
		wg    sync.WaitGroup
		bad   atomic.Value
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			b, err := os.ReadFile(sbomPath)
			if err != nil {
				bad.Store("read: " + err.Error())
				return
			}
			if !valid[string(b)] {
				bad.Store("partial or unknown content of " + itoa(len(b)) + " bytes")
				return
			}
			reads.Add(1)
		}
	}()
	for i := range 12 {
		if err := d.Deliver(t.Context(), versions[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	if reads.Load() == 0 {
		t.Fatal("reader never ran")
	}
	for _, f := range listFiles(t, root) {
		if strings.Contains(f, tmpMarker) {
			t.Fatalf("temporary file left behind: %s", f)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestDirectoryIndexGetsMetadataListingPlatforms(t *testing.T) {
	root := t.TempDir()
	d, _ := NewDirectory(root)
	idx := digestN(10)
	platforms := []map[string]any{
		{"digest": digestN(11), "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
		{"digest": digestN(12), "platform": map[string]string{"os": "linux", "architecture": "arm64", "variant": "v8"}},
	}
	meta := metadataJSON(t, idx, appTags("h"), map[string]any{"media_type": "application/vnd.oci.image.index.v1+json", "platforms": platforms})
	if err := d.Deliver(t.Context(), mustArtifact(t, meta, nil)); err != nil {
		t.Fatal(err)
	}
	hex := strings.TrimPrefix(idx, "sha256:")
	if got := listFiles(t, root); len(got) != 1 || got[0] != "sha256/"+hex+"/metadata.json" {
		t.Fatalf("files = %v, want only the index metadata.json", got)
	}
	b, _ := os.ReadFile(filepath.Join(d.PathFor(idx), "metadata.json"))
	var got struct {
		Platforms []struct {
			Digest string `json:"digest"`
		} `json:"platforms"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Platforms) != 2 || got.Platforms[0].Digest != digestN(11) || got.Platforms[1].Digest != digestN(12) {
		t.Fatalf("platforms = %+v", got.Platforms)
	}
}

func TestDirectoryRejectsBadArtifactsWithoutWriting(t *testing.T) {
	root := t.TempDir()
	d, _ := NewDirectory(root)
	cases := map[string]Artifact{
		"path traversal digest": {Metadata: json.RawMessage(`{"digest":"sha256:../../../etc","tags":[]}`)},
		"uppercase hex":         {Metadata: json.RawMessage(`{"digest":"sha256:` + strings.Repeat("A", 64) + `"}`)},
		"no metadata":           {},
		"metadata not JSON":     {Metadata: json.RawMessage(`digest: x`)},
		"unknown sbom format":   {Metadata: metadataJSON(t, digestN(4), nil, nil), SBOMs: map[string][]byte{"cyclonedx-xml": []byte("<bom/>")}},
		"sbom not JSON":         {Metadata: metadataJSON(t, digestN(4), nil, nil), SBOMs: map[string][]byte{FormatSPDXJSON: []byte("{")}},
		"bad parent digest":     {Metadata: metadataJSON(t, digestN(4), nil, nil), Parent: "latest"},
	}
	for name, a := range cases {
		t.Run(name, func(t *testing.T) {
			err := d.Deliver(t.Context(), a)
			if err == nil {
				t.Fatal("delivered")
			}
			if !IsPermanent(err) {
				t.Fatalf("error not permanent: %v", err)
			}
		})
	}
	if got := listFiles(t, root); len(got) != 0 {
		t.Fatalf("files written for rejected artifacts: %v", got)
	}
	if _, err := NewArtifact(map[string]string{"digest": "nope"}, nil); err == nil {
		t.Fatal("NewArtifact accepted an invalid digest")
	}
	if _, err := NewDirectory(""); err == nil || !strings.Contains(err.Error(), "outputs[].path") {
		t.Fatalf("NewDirectory(\"\") = %v", err)
	}
}

func TestDirectoryRemovesStaleTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	d, _ := NewDirectory(root)
	dg := digestN(5)
	target := d.PathFor(dg)
	if err := os.MkdirAll(target, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(target, ".sbom.cdx.json"+tmpMarker+"123")
	fresh := filepath.Join(target, ".metadata.json"+tmpMarker+"456")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("{partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, dg, nil, nil), sbomsN(5))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file from a crash still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("a fresh temporary file (maybe a concurrent delivery's) was removed: %v", err)
	}
}

// SBOMPaths names exactly the files Deliver writes.
func TestDirectorySBOMPathsMatchDelivery(t *testing.T) {
	root := filepath.Join(t.TempDir(), "results")
	d, err := NewDirectory(root)
	if err != nil {
		t.Fatal(err)
	}
	dg := digestN(7)
	sboms := sbomsN(7)
	if err := d.Deliver(t.Context(), mustArtifact(t, metadataJSON(t, dg, appTags("registry.example:8082"), nil), sboms)); err != nil {
		t.Fatal(err)
	}
	formats := make([]string, 0, len(sboms))
	for f := range sboms {
		formats = append(formats, f)
	}
	paths := d.SBOMPaths(dg, append(formats, "unknown-format"))
	if len(paths) != len(sboms) {
		t.Fatalf("SBOMPaths = %v, want one path per known format (%d)", paths, len(sboms))
	}
	for f, p := range paths {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !bytes.Equal(got, sboms[f]) {
			t.Errorf("%s: %s holds another document", f, p)
		}
		if name, ok := SBOMFileName(f); !ok || filepath.Base(p) != name {
			t.Errorf("SBOMFileName(%s) = %q %v, path %s", f, name, ok, p)
		}
	}
	if _, ok := SBOMFileName("unknown-format"); ok {
		t.Error("SBOMFileName accepted an unknown format")
	}
}
