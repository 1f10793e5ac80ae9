// Command imagewatch-bench compares, in one run on one corpus, the engine's
// backfill with a loop running the syft CLI once per tag.
//
// It serves the benchmark corpus (testimages.Corpus: several applications on a
// shared Debian-like base, several tags each, the newest of each promoted into
// a second repository) from the in-process Artifactory double, then runs, as
// child processes measured the same way (wall and CPU time, each child's own peak RSS):
//
//  1. imagewatch-engine run --backfill-from (fresh state, fresh blob cache);
//  2. syft scan registry:<ref> -o cyclonedx-json, once per tag, sequentially.
//
// Usage: imagewatch-bench -engine bin/imagewatch-engine -syft bin/syft
package main

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/store"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/testimages"
)

const (
	benchUser     = "bench"
	benchPassword = "bench-Passw0rd"
	syftVersion   = "v1.54.0"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("imagewatch-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	enginePath := fs.String("engine", "", "path of the imagewatch-engine binary (required)")
	syftPath := fs.String("syft", "", "path of the syft "+syftVersion+" binary (required)")
	workers := fs.Int("workers", runtime.NumCPU(), "engine workers")
	workDir := fs.String("dir", "", "work directory (default: a temporary directory, removed)")
	skipSyft := fs.Bool("skip-syft", false, "only time the engine")
	largeMiB := fs.Int("large", 0, "add one image with a layer of this many MiB (incompressible) to the corpus, to show peak RSS does not grow with image size")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *enginePath == "" || (*syftPath == "" && !*skipSyft) {
		fmt.Fprintln(stderr, "imagewatch-bench: -engine and -syft are required")
		fs.Usage()
		return 2
	}
	if err := bench(*enginePath, *syftPath, *workers, *workDir, *skipSyft, *largeMiB, stdout); err != nil {
		fmt.Fprintf(stderr, "imagewatch-bench: %v\n", err)
		return 1
	}
	return 0
}

// measurement of one side.
type measurement struct {
	wall    time.Duration
	cpu     time.Duration // user + system time of the children
	peakRSS int64         // bytes, the largest child
	runs    int
}

func bench(enginePath, syftPath string, workers int, dir string, skipSyft bool, largeMiB int, out io.Writer) error {
	if !skipSyft {
		if err := checkSyftVersion(syftPath); err != nil {
			return err
		}
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "imagewatch-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	ctx := context.Background()

	srv := artifactorytest.New()
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start the Artifactory double: %w", err)
	}
	defer srv.Close()
	for _, key := range []string{testimages.CorpusDevRepository, testimages.CorpusProdRepository} {
		srv.AddRepository(artifactorytest.Repository{Key: key, Class: "local", PackageType: "docker"})
	}
	srv.AddUser(artifactorytest.User{Name: benchUser, Password: benchPassword})
	srv.Grant(benchUser, testimages.CorpusDevRepository)
	srv.Grant(benchUser, testimages.CorpusProdRepository)

	fmt.Fprintln(out, "building the corpus...")
	from := time.Now().Add(-time.Second)
	entries, err := testimages.Corpus()
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if largeMiB > 0 {
		base, err := testimages.DebianBase()
		if err != nil {
			return err
		}
		large, err := testimages.Large(base, largeMiB)
		if err != nil {
			return err
		}
		entries = append(entries, testimages.CorpusEntry{Repository: testimages.CorpusDevRepository, Name: "data/large", Tag: "1.0", Image: large})
	}
	digests := map[string]bool{}
	var refs []string
	for _, e := range entries {
		d, err := srv.PushImage(ctx, e.Repository, e.Name, e.Tag, e.Image)
		if err != nil {
			return fmt.Errorf("push %s/%s:%s: %w", e.Repository, e.Name, e.Tag, err)
		}
		digests[d] = true
		refs = append(refs, artifactory.ImageReference(srv.RegistryHost(), e.Repository, e.Name, e.Tag))
	}
	fmt.Fprintf(out, "corpus: %d tags, %d distinct images, repositories %s and %s, registry %s\n",
		len(refs), len(digests), testimages.CorpusDevRepository, testimages.CorpusProdRepository, srv.RegistryHost())

	eng, err := runEngine(enginePath, srv, dir, workers, from)
	if err != nil {
		return err
	}
	done, err := countDone(ctx, filepath.Join(dir, "engine", "imagewatch.db"))
	if err != nil {
		return err
	}
	if done != len(digests) {
		return fmt.Errorf("the engine analysed %d images, want %d: see %s", done, len(digests), filepath.Join(dir, "engine.log"))
	}
	fmt.Fprintf(out, "engine backfill (%d workers):  wall %8s  cpu %8s  peak RSS %s  (%d images analysed once each)\n",
		workers, eng.wall.Round(10*time.Millisecond), eng.cpu.Round(10*time.Millisecond), mib(eng.peakRSS), done)
	if skipSyft {
		return nil
	}

	loop, err := runSyftLoop(syftPath, srv, dir, refs)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "syft %s loop (%d runs):     wall %8s  cpu %8s  peak RSS %s\n",
		syftVersion, loop.runs, loop.wall.Round(10*time.Millisecond), loop.cpu.Round(10*time.Millisecond), mib(loop.peakRSS))
	fmt.Fprintf(out, "ratio: the syft loop takes %.1fx the engine's wall time and %.1fx its CPU time; peak RSS engine/syft = %.2f\n",
		loop.wall.Seconds()/eng.wall.Seconds(), loop.cpu.Seconds()/eng.cpu.Seconds(), float64(eng.peakRSS)/float64(loop.peakRSS))
	return nil
}

// runEngine runs a backfill of the whole corpus in a fresh state directory.
func runEngine(enginePath string, srv *artifactorytest.Server, dir string, workers int, from time.Time) (measurement, error) {
	stateDir := filepath.Join(dir, "engine")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return measurement{}, err
	}
	cfg := map[string]any{
		"agent_id": "bench",
		"artifactory": []map[string]any{{
			"name": "bench", "base_url": srv.URL(), "username": benchUser, "password": benchPassword,
			"repositories": []string{testimages.CorpusDevRepository, testimages.CorpusProdRepository},
		}},
		"state":        filepath.Join(stateDir, "imagewatch.db"),
		"outputs":      []map[string]any{{"type": "directory", "path": filepath.Join(stateDir, "results")}},
		"sbom_formats": []string{"cyclonedx-json"},
		"workers":      workers,
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return measurement{}, err
	}
	cfgPath := filepath.Join(stateDir, "config.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return measurement{}, err
	}
	logf, err := os.Create(filepath.Join(dir, "engine.log"))
	if err != nil {
		return measurement{}, err
	}
	defer logf.Close()
	cmd := exec.Command(enginePath, "run", "--config", cfgPath, "--backfill-from", from.UTC().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = logf, logf
	m, err := measure(cmd)
	if err != nil {
		return m, fmt.Errorf("engine: %w (log: %s)", err, logf.Name())
	}
	return m, nil
}

// runSyftLoop runs syft once per tag, as a per-tag CI job or scanner would.
func runSyftLoop(syftPath string, srv *artifactorytest.Server, dir string, refs []string) (measurement, error) {
	outDir := filepath.Join(dir, "syft")
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return measurement{}, err
	}
	env := append(os.Environ(),
		"SYFT_REGISTRY_AUTH_AUTHORITY="+srv.RegistryHost(),
		"SYFT_REGISTRY_AUTH_USERNAME="+benchUser,
		"SYFT_REGISTRY_AUTH_PASSWORD="+benchPassword,
		"SYFT_REGISTRY_INSECURE_USE_HTTP=true",
		"SYFT_CHECK_FOR_APP_UPDATE=false",
	)
	var total measurement
	for i, ref := range refs {
		sbom := filepath.Join(outDir, fmt.Sprintf("%03d.cdx.json", i))
		cmd := exec.Command(syftPath, "scan", "registry:"+ref, "-o", "cyclonedx-json="+sbom, "-q")
		cmd.Env = env
		var errb limitedBuffer
		cmd.Stdout, cmd.Stderr = io.Discard, &errb
		m, err := measure(cmd)
		if err != nil {
			return total, fmt.Errorf("syft %s: %w: %s", ref, err, errb.String())
		}
		if st, err := os.Stat(sbom); err != nil || st.Size() == 0 {
			return total, fmt.Errorf("syft %s wrote no SBOM", ref)
		}
		total.wall += m.wall
		total.cpu += m.cpu
		total.peakRSS = max(total.peakRSS, m.peakRSS)
		total.runs++
	}
	return total, nil
}

// measure runs cmd and returns its wall time, CPU time and peak RSS. The peak is the child's own
// high-water mark (VmHWM in /proc/<pid>/status), sampled while it runs: rusage's maxrss would not
// do, because Linux starts a child's maxrss at its parent's peak (golang/go#32054), and this
// process holds the whole corpus in memory. Growth in the last sampling interval is missed.
func measure(cmd *exec.Cmd) (measurement, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measurement{}, err
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(rssSampleInterval)
		defer tick.Stop()
		for {
			if b, ok := peakRSS(cmd.Process.Pid); ok && b > peak.Load() {
				peak.Store(b)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	<-sampled
	m := measurement{wall: time.Since(start), runs: 1, peakRSS: peak.Load()}
	if cmd.ProcessState != nil {
		m.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return m, err
}

const rssSampleInterval = 5 * time.Millisecond

// peakRSS reads a live process's VmHWM in bytes.
func peakRSS(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kib * 1024, err == nil
		}
	}
	return 0, false
}

func countDone(ctx context.Context, path string) (int, error) {
	s, err := store.OpenReadOnly(ctx, path)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	c, err := s.Counts(ctx)
	if err != nil {
		return 0, err
	}
	return c[store.StatusDone], nil
}

func checkSyftVersion(path string) error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("syft binary %s: %w", path, err)
	}
	if bi.Main.Version != syftVersion {
		return fmt.Errorf("syft binary %s is %s %s, want %s (go install github.com/anchore/syft/cmd/syft@%s)",
			path, bi.Main.Path, bi.Main.Version, syftVersion, syftVersion)
	}
	return nil
}

func mib(b int64) string { return fmt.Sprintf("%6.1f MiB", float64(b)/(1<<20)) }

// limitedBuffer keeps the first 64 KiB written (a child's stderr for errors).
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 64<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
