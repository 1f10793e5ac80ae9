package analyze

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/testimages"
)

// childRefEnv, when set, makes TestLargeLayerPeakMemoryIsFlat the child process that analyses the image at
// that reference and reports its memory.
const childRefEnv = "IMAGEWATCH_ANALYZE_MEMORY_CHILD_REF"

// TestLargeLayerPeakMemoryIsFlat analyses images holding one incompressible layer of 64 and of 256 MiB, each
// in a fresh child process, and compares the child's peak RSS (VmHWM, which starts afresh at exec: unlike
// rusage's maxrss it does not inherit this process' high-water mark) and peak heap with its baseline before
// the analysis. Layers stream to disk and are catalogued from there, so the peak must stay far below the layer
// size and barely move when the layer grows fourfold. (rusage's maxrss is what made make bench report the engine
// and the syft CLI at ~5x the layer size: on Linux a child's maxrss starts at its spawner's peak RSS.)
func TestLargeLayerPeakMemoryIsFlat(t *testing.T) {
	if ref := os.Getenv(childRefEnv); ref != "" {
		analyzeAndReportMemory(t, ref)
		return
	}
	if testing.Short() {
		t.Skip("streams two large images through child processes")
	}
	base := loadFixtures(t).base
	peaks := map[int]memoryPeak{}
	for _, sizeMiB := range []int{64, 256} {
		img, err := testimages.Large(base, sizeMiB)
		if err != nil {
			t.Fatal(err)
		}
		ref := serveImage(t, img)
		p := runMemoryChild(t, ref)
		t.Logf("%3d MiB layer: peak RSS %.0f MiB over a %.0f MiB baseline, peak heap in use %.0f MiB over baseline",
			sizeMiB, mibf(p.rssGrowth), mibf(p.rssBase), mibf(p.heapGrowth))
		peaks[sizeMiB] = p
	}
	const bound = 200 << 20 // syft's license scanner alone is ~100 MiB, built on first use
	if g := peaks[256].rssGrowth; g > bound && !raceEnabled {
		t.Errorf("analysing a 256 MiB layer raised peak RSS by %.0f MiB, want < %.0f MiB", mibf(g), mibf(bound))
	}
	if g := peaks[256].heapGrowth; g > bound {
		t.Errorf("analysing a 256 MiB layer raised peak heap in use by %.0f MiB, want < %.0f MiB", mibf(g), mibf(bound))
	}
	// fourfold the layer (+192 MiB) may cost a little more bookkeeping, not a share of the layer
	const slack = 48 << 20
	if d := peaks[256].rssGrowth - peaks[64].rssGrowth; d > slack {
		t.Errorf("peak RSS grew by %.0f MiB more for the 256 MiB layer than for the 64 MiB one, want < %.0f MiB", mibf(d), mibf(slack))
	}
	if d := peaks[256].heapGrowth - peaks[64].heapGrowth; d > slack {
		t.Errorf("peak heap grew by %.0f MiB more for the 256 MiB layer than for the 64 MiB one, want < %.0f MiB", mibf(d), mibf(slack))
	}
}

type memoryPeak struct{ rssBase, rssGrowth, heapGrowth int64 }

func mibf(b int64) float64 { return float64(b) / (1 << 20) }

// runMemoryChild re-runs this test binary as the child for ref and parses its report.
func runMemoryChild(t *testing.T, ref name.Digest) memoryPeak {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLargeLayerPeakMemoryIsFlat$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childRefEnv+"="+ref.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var p memoryPeak
	found := 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		_, report, ok := strings.Cut(sc.Text(), "memory report: ")
		if !ok {
			continue
		}
		if _, err := fmt.Sscanf(report, "rss_base=%d rss_growth=%d heap_growth=%d", &p.rssBase, &p.rssGrowth, &p.heapGrowth); err != nil {
			t.Fatalf("child report %q: %v", report, err)
		}
		found++
	}
	if found != 1 {
		t.Fatalf("child printed %d memory reports:\n%s", found, out)
	}
	return p
}

// analyzeAndReportMemory is the child: one analysis, its result checked, then its peak memory printed.
func analyzeAndReportMemory(t *testing.T, refStr string) {
	ref, err := name.NewDigest(refStr, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	a := newAnalyzer(t)
	runtime.GC()
	rssBase := vmHWM(t)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBase := ms.HeapInuse

	var (
		heapPeak atomic.Uint64
		stop     = make(chan struct{})
		stopped  = make(chan struct{})
	)
	go func() {
		defer close(stopped)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			heapPeak.Store(max(heapPeak.Load(), m.HeapInuse))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	res, err := a.Analyze(context.Background(), ref)
	close(stop)
	<-stopped
	if err != nil {
		t.Fatal(err)
	}
	rssPeak := vmHWM(t)

	// the numbers only count for a complete analysis: the large layer fetched, the base's packages found
	var layerBytes int64
	for _, l := range res.Metadata.Layers {
		layerBytes = max(layerBytes, l.Size)
	}
	if res.Stats.BytesFetched < layerBytes || layerBytes < 64<<20 {
		t.Fatalf("fetched %d bytes, largest layer %d bytes", res.Stats.BytesFetched, layerBytes)
	}
	for _, e := range testimages.DebianPackages {
		if p, ok := findPackage(res.Metadata, e); !ok || p.Layer != res.Metadata.Layers[0].DiffID {
			t.Errorf("syft did not find %s in the base layer (got %+v)", e, p)
		}
	}
	t.Logf("memory report: rss_base=%d rss_growth=%d heap_growth=%d", rssBase, rssPeak-rssBase, int64(heapPeak.Load())-int64(heapBase))
}

// vmHWM is this process' peak RSS in bytes.
func vmHWM(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("peak RSS needs /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kib << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// serveImage serves img read-only under a Docker V2 API and returns its digest reference. Unlike pushing to
// ggcr's registry (which buffers each upload in memory), the layers are streamed from img on every GET, so
// the test process stays small too.
func serveImage(t *testing.T, img v1.Image) name.Digest {
	t.Helper()
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	const repo = "docker-dev/large"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v2/":
		case p == "/v2/"+repo+"/manifests/"+digest.String():
			w.Header().Set("Content-Type", string(mt))
			w.Header().Set("Docker-Content-Digest", digest.String())
			_, _ = w.Write(manifest)
		case p == "/v2/"+repo+"/blobs/"+cfgName.String():
			_, _ = w.Write(config)
		case strings.HasPrefix(p, "/v2/"+repo+"/blobs/"):
			h, err := v1.NewHash(strings.TrimPrefix(p, "/v2/"+repo+"/blobs/"))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			l, err := img.LayerByDigest(h)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			if size, err := l.Size(); err == nil {
				w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			}
			rc, err := l.Compressed()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer rc.Close()
			_, _ = io.Copy(w, rc)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	ref, err := name.NewDigest(strings.TrimPrefix(srv.URL, "http://")+"/"+repo+"@"+digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
