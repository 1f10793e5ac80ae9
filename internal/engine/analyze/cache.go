package analyze

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// blobCache is a content-addressed blob store in OCI image layout form (<dir>/blobs/sha256/<hex>), shared by
// every analysis so a layer common to many images is downloaded once.
//
// ggcr's layout.WriteImage is not used to fill it: it opens each layer's Compressed() stream (an HTTP GET)
// before it checks whether the blob exists, and writes config/manifest blobs in place (a concurrent reader can
// see a partial file). Here a blob is checked first, streamed to a temporary file while hashed, verified
// against its digest and size, then renamed into place; concurrent requests for one blob share one download.
type blobCache struct {
	dir string

	mu       sync.Mutex
	inflight map[v1.Hash]*inflight
	pinned   map[v1.Hash]int // blobs an analysis in progress reads
}

type inflight struct {
	done chan struct{}
	err  error
}

func openBlobCache(dir string) (*blobCache, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("cache dir %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, os.ErrNotExist) {
		// an (empty) valid layout, so tools like crane/skopeo can inspect the cache
		if _, err := layout.Write(dir, empty.Index); err != nil {
			return nil, fmt.Errorf("cache dir %s: %w", dir, err)
		}
	}
	removeStalePartials(filepath.Join(dir, "blobs", "sha256"), time.Hour)
	return &blobCache{dir: dir, inflight: map[v1.Hash]*inflight{}}, nil
}

// removeStalePartials deletes downloads interrupted by a crash (a live download keeps writing to its file).
func removeStalePartials(dir string, age time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".partial-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func (c *blobCache) path(h v1.Hash) string {
	return filepath.Join(c.dir, "blobs", h.Algorithm, h.Hex)
}

// has reports whether the blob is present with the expected size (size < 0: any), and marks it used.
func (c *blobCache) has(h v1.Hash, size int64) bool {
	p := c.path(h)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || (size >= 0 && fi.Size() != size) {
		return false
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // last use, for pruning by age; best effort
	return true
}

func (c *blobCache) open(h v1.Hash) (io.ReadCloser, error) {
	return os.Open(c.path(h))
}

func (c *blobCache) read(h v1.Hash) ([]byte, error) {
	return os.ReadFile(c.path(h))
}

// ensure makes the blob present, fetching it with fetch when missing. It reports whether this call downloaded it.
func (c *blobCache) ensure(ctx context.Context, h v1.Hash, size int64, fetch func() (io.ReadCloser, error)) (bool, error) {
	if h.Algorithm != "sha256" {
		return false, fmt.Errorf("unsupported digest algorithm %q", h.Algorithm)
	}
	for {
		if c.has(h, size) {
			return false, nil
		}
		c.mu.Lock()
		if f, ok := c.inflight[h]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
				if f.err != nil {
					return false, f.err
				}
				continue // present now (or evicted meanwhile: fetch ourselves)
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		f := &inflight{done: make(chan struct{})}
		c.inflight[h] = f
		c.mu.Unlock()

		f.err = c.download(h, size, fetch)

		c.mu.Lock()
		delete(c.inflight, h)
		c.mu.Unlock()
		close(f.done)
		return f.err == nil, f.err
	}
}

func (c *blobCache) download(h v1.Hash, size int64, fetch func() (io.ReadCloser, error)) error {
	rc, err := fetch()
	if err != nil {
		return err
	}
	defer rc.Close()
	return c.write(h, size, rc)
}

// put stores b (already in memory: configs) under h.
func (c *blobCache) put(h v1.Hash, b []byte) error {
	if c.has(h, int64(len(b))) {
		return nil
	}
	return c.write(h, int64(len(b)), bytes.NewReader(b))
}

func (c *blobCache) write(h v1.Hash, size int64, r io.Reader) error {
	dir := filepath.Dir(c.path(h))
	tmp, err := os.CreateTemp(dir, ".partial-"+h.Hex[:12]+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	hasher := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, hasher), r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if got := hexSum(hasher); got != h.Hex {
		return &digestMismatchError{want: h.String(), got: "sha256:" + got}
	}
	if size >= 0 && n != size {
		return &digestMismatchError{want: fmt.Sprintf("%s (%d bytes)", h, size), got: fmt.Sprintf("%d bytes", n)}
	}
	return os.Rename(tmp.Name(), c.path(h))
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// cachedImage is a v1.Image whose config and layers are read from the cache.
type cachedImage struct {
	cache       *blobCache
	mediaType   types.MediaType
	rawManifest []byte
	rawConfig   []byte
	manifest    *v1.Manifest
}

var _ partial.CompressedImageCore = (*cachedImage)(nil)

func (i *cachedImage) RawConfigFile() ([]byte, error)      { return i.rawConfig, nil }
func (i *cachedImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *cachedImage) RawManifest() ([]byte, error)        { return i.rawManifest, nil }

func (i *cachedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return partial.ConfigLayer(i)
	}
	for _, d := range i.manifest.Layers {
		if d.Digest == h {
			return &cachedLayer{cache: i.cache, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("layer %s not in manifest", h)
}

type cachedLayer struct {
	cache *blobCache
	desc  v1.Descriptor
}

func (l *cachedLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *cachedLayer) Compressed() (io.ReadCloser, error)  { return l.cache.open(l.desc.Digest) }
func (l *cachedLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *cachedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *cachedLayer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }

// pin marks blobs as in use by an analysis so prune leaves them alone; the returned func unpins them.
func (c *blobCache) pin(hs []v1.Hash) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pinned == nil {
		c.pinned = map[v1.Hash]int{}
	}
	for _, h := range hs {
		c.pinned[h]++
	}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, h := range hs {
			if c.pinned[h]--; c.pinned[h] <= 0 {
				delete(c.pinned, h)
			}
		}
	}
}

// prune removes the least recently used blobs (modification time: has() marks each use) until the
// cache holds at most maxBytes, skipping pinned and in-flight blobs.
func (c *blobCache) prune(maxBytes int64) (removed int, freed int64, err error) {
	dir := filepath.Join(c.dir, "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	type blob struct {
		h    v1.Hash
		size int64
		used time.Time
	}
	var (
		blobs []blob
		total int64
	)
	for _, e := range entries {
		if !e.Type().IsRegular() || len(e.Name()) != 64 {
			continue // temporary .partial- files belong to downloads in progress
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		blobs = append(blobs, blob{h: v1.Hash{Algorithm: "sha256", Hex: e.Name()}, size: fi.Size(), used: fi.ModTime()})
		total += fi.Size()
	}
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].used.Before(blobs[j].used) })
	for _, b := range blobs {
		if total <= maxBytes {
			break
		}
		c.mu.Lock()
		_, busy := c.pinned[b.h]
		_, loading := c.inflight[b.h]
		if !busy && !loading {
			if rerr := os.Remove(c.path(b.h)); rerr == nil {
				removed++
				freed += b.size
				total -= b.size
			} else if !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
		c.mu.Unlock()
	}
	return removed, freed, err
}
