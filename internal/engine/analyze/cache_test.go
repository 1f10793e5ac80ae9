package analyze

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestBlobCacheVerifiesAndDeduplicates(t *testing.T) {
	dir := t.TempDir()
	c, err := openBlobCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("layer bytes")
	h, size, _ := v1.SHA256(bytes.NewReader(content))
	ctx := context.Background()

	// a registry answering other bytes for the digest: error, nothing stored
	_, err = c.ensure(ctx, h, size, func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader([]byte("tampered!!!"))), nil
	})
	var mismatch *digestMismatchError
	if !errors.As(err, &mismatch) || !IsPermanent(registryError("r", "fetch", err)) {
		t.Fatalf("tampered blob: %v", err)
	}
	if c.has(h, -1) {
		t.Fatal("tampered blob stored")
	}

	// concurrent requests for one blob share one download
	var fetches atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.ensure(ctx, h, size, func() (io.ReadCloser, error) {
				fetches.Add(1)
				<-release
				return io.NopCloser(bytes.NewReader(content)), nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d downloads for one blob, want 1", n)
	}
	if got, _ := c.read(h); !bytes.Equal(got, content) {
		t.Errorf("stored %q", got)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", ".partial-*"))
	if len(left) != 0 {
		t.Errorf("partial files left: %v", left)
	}

	// a crash leaves a partial file: removed on the next open once stale
	stale := filepath.Join(dir, "blobs", "sha256", ".partial-0123456789ab-1")
	if err := os.WriteFile(stale, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	if _, err := openBlobCache(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale partial download not removed")
	}
}
