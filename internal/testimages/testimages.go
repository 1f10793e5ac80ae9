// Package testimages builds real container images for tests, benchmarks and demos.
//
// Every image is assembled with go-containerregistry (mutate, tarball) from real file trees: a dpkg status
// database, a Go binary compiled at fixture time with embedded build info, an npm lockfile, a jar with Maven
// metadata. Timestamps are fixed so digests are stable across runs and machines (the Go binary is
// reproducible for a given toolchain and module graph: -trimpath, no VCS stamping).
package testimages

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Epoch is the fixed build time of every fixture; later layers are a few minutes after it.
var Epoch = time.Date(2024, time.June, 3, 9, 30, 0, 0, time.UTC)

// Package ecosystems as syft names its package types.
const (
	EcosystemDeb  = "deb"
	EcosystemGo   = "go-module"
	EcosystemNpm  = "npm"
	EcosystemJava = "java-archive"
)

// Expect is one package syft must report for a fixture.
type Expect struct {
	Ecosystem string // syft package type: deb, go-module, npm, java-archive
	Name      string
	Version   string
}

func (e Expect) String() string { return e.Ecosystem + ":" + e.Name + "@" + e.Version }

// file is one entry of a layer's file tree.
type file struct {
	Path     string // absolute path inside the image
	Mode     int64  // permission bits; 0 means 0644 for files, 0755 for directories
	Data     []byte
	Linkname string // non-empty: a symlink to Linkname
	Dir      bool
}

// layerFromFiles writes files (and their parent directories) into a deterministic tar and returns it as a
// gzip-compressed OCI layer.
func layerFromFiles(files []file, opts ...tarball.LayerOption) (v1.Layer, error) {
	b, err := tarFiles(files, Epoch)
	if err != nil {
		return nil, err
	}
	opts = append([]tarball.LayerOption{tarball.WithMediaType(types.OCILayer)}, opts...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, opts...)
	if err != nil {
		return nil, err
	}
	return plainLayer{l}, nil
}

// plainLayer hides tarball's Descriptor method, whose empty (non-nil) annotations map makes the in-memory
// manifest differ from its own serialization (omitempty) and fail validate.Image.
type plainLayer struct{ v1.Layer }

func tarFiles(files []file, modTime time.Time) ([]byte, error) {
	entries := map[string]file{}
	for _, f := range files {
		p := strings.TrimPrefix(path.Clean("/"+f.Path), "/")
		if p == "" {
			continue
		}
		if _, dup := entries[p]; dup {
			return nil, fmt.Errorf("testimages: duplicate path %q in layer", f.Path)
		}
		f.Path = p
		entries[p] = f
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = file{Path: d, Dir: true}
			}
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		f := entries[n]
		hdr := &tar.Header{
			Name:    f.Path,
			ModTime: modTime,
			Uname:   "root",
			Gname:   "root",
			Format:  tar.FormatPAX,
		}
		switch {
		case f.Dir:
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
			hdr.Mode = orDefault(f.Mode, 0o755)
		case f.Linkname != "":
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = f.Linkname
			hdr.Mode = 0o777
		default:
			hdr.Typeflag = tar.TypeReg
			hdr.Mode = orDefault(f.Mode, 0o644)
			hdr.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// step is one Dockerfile-like build step: a layer plus its history entry.
type step struct {
	files     []file
	createdBy string
	at        time.Duration // after Epoch
}

// appendSteps appends layers (with history) to base and sets the image creation time to the last step.
func appendSteps(base v1.Image, steps ...step) (v1.Image, error) {
	img := base
	for _, s := range steps {
		l, err := layerFromFiles(s.files)
		if err != nil {
			return nil, err
		}
		if img, err = appendLayer(img, l, s.createdBy, s.at); err != nil {
			return nil, err
		}
	}
	return img, nil
}

// appendLayer appends l with a history entry created at Epoch+at, and moves the image creation time there.
func appendLayer(base v1.Image, l v1.Layer, createdBy string, at time.Duration) (v1.Image, error) {
	created := v1.Time{Time: Epoch.Add(at)}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   l,
		History: v1.History{Created: created, CreatedBy: createdBy, Comment: "buildkit.dockerfile.v0"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, created)
}

// editConfig applies fn to a copy of img's config file.
func editConfig(img v1.Image, fn func(*v1.ConfigFile)) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	fn(cf)
	return mutate.ConfigFile(img, cf)
}

// emptyOCIImage is an image with no layers, OCI manifest and config media types.
func emptyOCIImage() v1.Image {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}

// platformOf returns the config's platform of img.
func platformOf(img v1.Image) (v1.Platform, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Platform{}, err
	}
	return v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}, nil
}
