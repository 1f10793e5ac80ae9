package testimages

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const mib = 1 << 20

// Large returns base plus one layer holding sizeMiB MiB of incompressible but deterministic data
// (/opt/blob/data-NNN.bin, 64 MiB per file). The layer is generated as a stream each time it is read,
// never held in memory, so it can be far larger than the heap: use it for memory benchmarks.
func Large(base v1.Image, sizeMiB int) (v1.Image, error) {
	if sizeMiB <= 0 {
		return nil, fmt.Errorf("testimages: Large size must be positive, got %d MiB", sizeMiB)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeLargeTar(pw, int64(sizeMiB)*mib)) }()
		return pr, nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.NoCompression))
	if err != nil {
		return nil, err
	}
	img, err := appendLayer(base, plainLayer{layer}, fmt.Sprintf("COPY blob/ /opt/blob/ # %d MiB", sizeMiB), time.Hour)
	if err != nil {
		return nil, err
	}
	return WithLabels(img, map[string]string{"org.opencontainers.image.title": fmt.Sprintf("large-%dmib", sizeMiB)})
}

func writeLargeTar(w io.Writer, size int64) error {
	const perFile = 64 * mib
	tw := tar.NewWriter(w)
	rng := rand.NewChaCha8([32]byte{'i', 'm', 'a', 'g', 'e', 'w', 'a', 't', 'c', 'h'})
	for i := 0; size > 0; i++ {
		n := min(size, int64(perFile))
		size -= n
		hdr := &tar.Header{Name: fmt.Sprintf("opt/blob/data-%03d.bin", i), Mode: 0o644, Size: n, ModTime: Epoch,
			Typeflag: tar.TypeReg, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, rng, n); err != nil {
			return err
		}
	}
	return tw.Close()
}
