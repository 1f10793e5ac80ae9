package e2e

import (
	"github.com/imagewatch/terraform-provider-imagewatch/internal/logbuf"

	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/testimages"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/tftest"
)

// TestMain removes the provider and engine binaries built once for all tests.
func TestMain(m *testing.M) {
	code := m.Run()
	tftest.Cleanup()
	os.Exit(code)
}

// stopBudget is how long the engine may take to exit after SIGTERM.
const stopBudget = 10 * time.Second

var (
	baseOnce sync.Once
	baseImg  v1.Image
	baseErr  error
)

// appImage is a real image (Debian base with a dpkg database, plus an npm app
// named name): distinct names give distinct digests; the base layers are shared.
func appImage(t *testing.T, name string) v1.Image {
	t.Helper()
	baseOnce.Do(func() { baseImg, baseErr = testimages.DebianBase() })
	if baseErr != nil {
		t.Fatalf("debian base: %v", baseErr)
	}
	img, err := testimages.NodeApp(baseImg, name)
	if err != nil {
		t.Fatalf("node app %s: %v", name, err)
	}
	return img
}

// newArtifactory starts a double with one local Docker repository, docker-local,
// and returns it with an access token of its admin.
func newArtifactory(t *testing.T) (*artifactorytest.Server, string) {
	t.Helper()
	srv := artifactorytest.NewTest(t)
	srv.AddRepository(artifactorytest.Repository{Key: "docker-local", Class: "local", PackageType: "docker"})
	admin, _ := srv.AdminUser()
	return srv, srv.IssueToken(admin, time.Hour)
}

func push(t *testing.T, srv *artifactorytest.Server, image, tag string) string {
	t.Helper()
	digest, err := srv.PushImage(t.Context(), "docker-local", image, tag, appImage(t, strings.ReplaceAll(image+"-"+tag, "/", "-")))
	if err != nil {
		t.Fatalf("push %s:%s: %v", image, tag, err)
	}
	return digest
}

// freeAddr returns a loopback host:port nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// syncBuffer collects the engine's log while tests read it.
type syncBuffer struct{ logbuf.Buffer }

// hasLine reports whether one log line contains every part.
func (b *syncBuffer) hasLine(parts ...string) bool {
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
next:
	for sc.Scan() {
		for _, p := range parts {
			if !strings.Contains(sc.Text(), p) {
				continue next
			}
		}
		return true
	}
	return false
}

// engineProcess is a running imagewatch-engine.
type engineProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  *syncBuffer
	url  string // http://<listen>
	done chan error
}

// startEngine runs `imagewatch-engine run --config <config> args...` with the
// extra environment. At the end of the test it is sent SIGTERM and must exit
// cleanly within the 10 s budget.
func startEngine(t *testing.T, config, listen string, env []string, args ...string) *engineProcess {
	t.Helper()
	bin := tftest.BuildEngine(t)
	cmd := exec.Command(bin, append([]string{"run", "--config", config}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &engineProcess{t: t, cmd: cmd, log: &syncBuffer{}, url: "http://" + listen, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the engine: %v", err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if !p.stop() {
			t.Errorf("the engine did not exit cleanly within %s of SIGTERM", stopBudget)
		}
		if t.Failed() {
			t.Logf("engine log:\n%s", p.log.String())
		}
	})
	return p
}

// stop sends SIGTERM and reports whether the engine exited with status 0 within the budget.
func (p *engineProcess) stop() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return err == nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			p.t.Logf("engine exit: %v", err)
		}
		return err == nil
	case <-time.After(stopBudget):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

// exited fails the test when the engine is no longer running.
func (p *engineProcess) checkRunning() {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		p.t.Fatalf("the engine exited early (%v); log:\n%s", err, p.log.String())
	default:
	}
}

// get performs a GET on the engine's server; token "" sends no Authorization.
func (p *engineProcess) get(path, token string) (int, []byte) {
	p.t.Helper()
	req, err := http.NewRequestWithContext(p.t.Context(), http.MethodGet, p.url+path, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// image is the part of an inventory row the tests read.
type image struct {
	Integration  string            `json:"integration"`
	Repository   string            `json:"repository"`
	Image        string            `json:"image"`
	Tag          string            `json:"tag"`
	Digest       string            `json:"digest"`
	Status       string            `json:"status"`
	PackageCount int               `json:"package_count"`
	SBOMs        map[string]string `json:"sboms"`
}

// images reads one page (up to 1000 rows) of /api/v1/images with query.
func (p *engineProcess) images(query, token string) []image {
	p.t.Helper()
	code, body := p.get("/api/v1/images?limit=1000&"+query, token)
	if code != http.StatusOK {
		p.t.Fatalf("GET /api/v1/images?%s: %d %s", query, code, body)
	}
	var page struct {
		Images []image `json:"images"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		p.t.Fatalf("inventory: %v\n%s", err, body)
	}
	return page.Images
}

// row finds integration's repository/image:tag in rows.
func row(rows []image, integration, img, tag string) (image, bool) {
	for _, r := range rows {
		if r.Integration == integration && r.Repository == "docker-local" && r.Image == img && r.Tag == tag {
			return r, true
		}
	}
	return image{}, false
}

// metric sums the samples of name whose labels include every one of labels,
// from a scrape of /metrics in the Prometheus text format.
func (p *engineProcess) metric(name string, labels map[string]string) float64 {
	p.t.Helper()
	v, err := p.tryMetric(name, labels)
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

// tryMetric is metric for wait loops: the server may not be up yet.
func (p *engineProcess) tryMetric(name string, labels map[string]string) (float64, error) {
	p.t.Helper()
	code, body := p.get("/metrics", "")
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %d %s", code, body)
	}
	return sampleSum(string(body), name, labels), nil
}

// waitFirstPoll waits for integration's first successful poll (the server
// comes up with the engine).
func waitFirstPoll(t *testing.T, p *engineProcess, integration string) {
	t.Helper()
	waitFor(t, p, 30*time.Second, "first poll of "+integration, func() (bool, string) {
		n, err := p.tryMetric("imagewatch_polls_total", map[string]string{"integration": integration, "result": "success"})
		if err != nil {
			return false, err.Error()
		}
		return n >= 1, fmt.Sprintf("polls_total %v", n)
	})
}

// hasSeries reports whether /metrics has a sample of name with the labels.
func (p *engineProcess) hasSeries(name string, labels map[string]string) bool {
	p.t.Helper()
	_, body := p.get("/metrics", "")
	return sampleCount(string(body), name, labels) > 0
}

func sampleSum(text, name string, labels map[string]string) float64 {
	var sum float64
	forSamples(text, name, labels, func(v float64) { sum += v })
	return sum
}

func sampleCount(text, name string, labels map[string]string) int {
	n := 0
	forSamples(text, name, labels, func(float64) { n++ })
	return n
}

func forSamples(text, name string, labels map[string]string, fn func(float64)) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if i := strings.LastIndex(line, "} "); i >= 0 {
			series, value, ok = line[:i+1], strings.TrimSpace(line[i+2:]), true
		}
		if !ok {
			continue
		}
		match := true
		for k, v := range labels {
			if !strings.Contains(series, fmt.Sprintf("%s=%q", k, v)) {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		value, _, _ = strings.Cut(value, " ") // a timestamp may follow
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			fn(f)
		}
	}
}

// waitFor polls cond every 100ms until it holds or timeout passes; then it
// fails with cond's last explanation.
func waitFor(t *testing.T, p *engineProcess, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if p != nil {
			p.checkRunning()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitAnalysed waits until integration's docker-local/img:tag is analysed and
// its results delivered to the directory output.
func waitAnalysed(t *testing.T, p *engineProcess, token, integration, img, tag, digest string, timeout time.Duration) image {
	t.Helper()
	var got image
	waitFor(t, p, timeout, fmt.Sprintf("%s: docker-local/%s:%s analysed", integration, img, tag), func() (bool, string) {
		r, ok := row(p.images("repository=docker-local", token), integration, img, tag)
		if !ok {
			return false, "not in the inventory"
		}
		got = r
		// Done, and delivered: the directory output says where its SBOM is.
		return r.Status == "done" && r.SBOMs["cyclonedx-json"] != "", fmt.Sprintf("status %s, sboms %v", r.Status, r.SBOMs)
	})
	if got.Digest != digest {
		t.Errorf("%s:%s: digest %s, want %s", img, tag, got.Digest, digest)
	}
	if got.PackageCount == 0 {
		t.Errorf("%s:%s: package_count 0; syft found nothing in a real image", img, tag)
	}
	return got
}

// waitPolls waits until integration has at least n more successful polls than it had.
func waitPolls(t *testing.T, p *engineProcess, integration string, n float64, timeout time.Duration) {
	t.Helper()
	labels := map[string]string{"integration": integration, "result": "success"}
	start := p.metric("imagewatch_polls_total", labels)
	waitFor(t, p, timeout, fmt.Sprintf("%v more polls of %s", n, integration), func() (bool, string) {
		got := p.metric("imagewatch_polls_total", labels)
		return got >= start+n, fmt.Sprintf("polls_total went from %v to %v", start, got)
	})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
