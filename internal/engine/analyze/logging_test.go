package analyze

import (
	"github.com/imagewatch/terraform-provider-imagewatch/internal/logbuf"

	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/logs"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hashicorp/go-hclog"
)

// TestLibraryLogBridgeIsRaceFree installs the bridge while other goroutines pull with go-containerregistry (which
// reads its pkg/logs loggers on every call): under -race this fails if the bridge reassigns library globals.
// The bridge then forwards ggcr's and syft's logs, and only the first bridge of the process takes effect.
func TestLibraryLogBridgeIsRaceFree(t *testing.T) {
	// a fresh bridge for this test, the previous one restored after it
	prevSyft, prevStereoscope := syftLogger.Load(), stereoscopeLogger.Load()
	prevWarn, prevProgress, prevDebug := logs.Warn.Writer(), logs.Progress.Writer(), logs.Debug.Writer()
	bridgeOnce = sync.Once{}
	t.Cleanup(func() {
		syftLogger.Store(prevSyft)
		stereoscopeLogger.Store(prevStereoscope)
		logs.Warn.SetOutput(prevWarn)
		logs.Progress.SetOutput(prevProgress)
		logs.Debug.SetOutput(prevDebug)
	})

	reg := newTestRegistry(t)
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.pushImage(t, "docker-dev/random:1", img)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := remote.Get(ref, remote.WithContext(ctx)); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var out logbuf.Buffer
	first := hclog.New(&hclog.LoggerOptions{Name: "first", Output: &out, Level: hclog.Trace})
	time.Sleep(20 * time.Millisecond) // the pulls are under way
	// called directly: New's file I/O would order the accesses for the race detector (syscalls synchronise)
	bridgeLibraryLoggers(first)
	time.Sleep(20 * time.Millisecond)
	cancel()
	wg.Wait()
	later := hclog.New(&hclog.LoggerOptions{Name: "later", Output: &out, Level: hclog.Trace})
	a, err := New(WithLogger(later), WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := remote.Get(ref); err != nil {
		t.Fatal(err)
	}

	logs.Warn.Printf("probe from ggcr")
	(&anchoreAdapter{target: &syftLogger}).Warnf("probe from %s", "syft")
	got := out.String()
	for _, want := range []string{"first.ggcr: probe from ggcr", "first.syft: probe from syft"} {
		if !strings.Contains(got, want) {
			t.Errorf("bridged logs lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "later") {
		t.Errorf("a later Analyzer's logger replaced the first one's:\n%s", got)
	}
	// at trace level ggcr dumps each HTTP exchange: redacted, through the same logger
	if !strings.Contains(got, "first.ggcr: --> GET") {
		t.Errorf("ggcr's debug log is not bridged at trace level:\n%.2000s", got)
	}
}
