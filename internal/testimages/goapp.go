package testimages

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// goAppModule is the main module path of the fixture binary.
const goAppModule = "example.com/imagewatch/goapp"

// goAppMain is the fixture program: it links two modules of this repository's module graph so the binary's
// build info lists them (and their dependencies) at the versions our go.mod pins.
const goAppMain = `package main

import (
	"fmt"
	"os"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
)

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Name: "goapp", Output: os.Stderr})
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://example.com/imagewatch/goapp"))
	logger.Info("started", "instance", id.String())
	fmt.Println(id)
}
`

// GoPackages are the Go modules syft must find in GoApp's binary. The versions are the ones our go.mod pins;
// GoApp fails if the built binary says otherwise.
var GoPackages = []Expect{
	{Ecosystem: EcosystemGo, Name: "github.com/google/uuid", Version: "v1.6.0"},
	{Ecosystem: EcosystemGo, Name: "github.com/hashicorp/go-hclog", Version: "v1.6.3"},
}

// GoApp returns base plus a layer with a real Go binary at /usr/local/bin/<name>, compiled for base's
// platform, with build info naming GoPackages.
func GoApp(base v1.Image, name string) (v1.Image, error) {
	return goApp(base, name, "1.0.0")
}

func goApp(base v1.Image, name, version string) (v1.Image, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	p, err := platformOf(base)
	if err != nil {
		return nil, err
	}
	bin, err := GoBinary(p)
	if err != nil {
		return nil, err
	}
	img, err := appendSteps(base,
		step{files: []file{{Path: "/usr/local/bin/" + name, Mode: 0o755, Data: bin}},
			createdBy: "COPY /out/" + name + " /usr/local/bin/" + name + " # buildkit", at: stepAt(name, 1)},
		step{files: []file{{Path: "/etc/" + name + "/version", Data: []byte(version + "\n")}},
			createdBy: "RUN /bin/sh -c echo " + version + " > /etc/" + name + "/version # buildkit", at: stepAt(name, 2)},
	)
	if err != nil {
		return nil, err
	}
	return appConfig(img, name, []string{"/usr/local/bin/" + name}, nil)
}

var (
	goBuildMu    sync.Mutex
	goBuildCache = map[string][]byte{} // cache key -> binary; keeps repeated fixtures in one process cheap
)

// GoBinary returns the fixture Go binary for platform p (linux only), built with `go build` from a temporary
// module requiring exactly the module versions of this repository's go.mod. Built binaries are cached in
// os.TempDir()/imagewatch-testimages keyed by a hash of every input, so only the first run pays for the build.
func GoBinary(p v1.Platform) ([]byte, error) {
	if p.OS != "" && p.OS != "linux" {
		return nil, fmt.Errorf("testimages: Go fixture binaries are built for linux only, not %s", p.OS)
	}
	goarch, goarm := p.Architecture, ""
	if goarch == "arm" {
		goarm = strings.TrimPrefix(p.Variant, "v")
	}
	goMod, goSum, err := fixtureModule()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, part := range []string{goAppMain, goMod, goSum, runtime.Version(), goarch, goarm} {
		fmt.Fprintf(h, "%d:%s\n", len(part), part)
	}
	key := hex.EncodeToString(h.Sum(nil))[:32]

	goBuildMu.Lock()
	defer goBuildMu.Unlock()
	if b, ok := goBuildCache[key]; ok {
		return b, nil
	}
	cacheDir := filepath.Join(os.TempDir(), "imagewatch-testimages")
	cached := filepath.Join(cacheDir, fmt.Sprintf("goapp-%s-linux-%s%s", key, goarch, goarm))
	if b, err := os.ReadFile(cached); err == nil {
		if err := checkGoBinary(b); err == nil {
			goBuildCache[key] = b
			return b, nil
		}
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	b, err := buildGoBinary(goMod, goSum, goarch, goarm, cacheDir)
	if err != nil {
		return nil, err
	}
	if err := checkGoBinary(b); err != nil {
		return nil, err
	}
	// write then rename: concurrent test processes never read a partial binary
	tmp, err := os.CreateTemp(cacheDir, "goapp-*.partial")
	if err != nil {
		return nil, err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	if err := os.Rename(tmp.Name(), cached); err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	goBuildCache[key] = b
	return b, nil
}

func buildGoBinary(goMod, goSum, goarch, goarm, cacheDir string) ([]byte, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("testimages: the go tool is needed to build the Go fixture binary: %w", err)
	}
	dir, err := os.MkdirTemp(cacheDir, "goapp-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for name, data := range map[string]string{"go.mod": goMod, "go.sum": goSum, "main.go": goAppMain} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(dir, "goapp")
	cmd := exec.Command(goTool, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	// GOPROXY and friends are inherited; -mod=mod lets go record go.mod changes in the temporary module.
	cmd.Env = append(os.Environ(),
		"GOOS=linux", "GOARCH="+goarch, "GOARM="+goarm, "CGO_ENABLED=0", "GOWORK=off",
		"GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"))
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("testimages: go build of the fixture binary failed: %w\n%s", err, stderr.String())
	}
	return os.ReadFile(out)
}

// checkGoBinary verifies the binary's build info names GoPackages at their versions.
func checkGoBinary(b []byte) error {
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("testimages: fixture binary has no build info: %w", err)
	}
	got := map[string]string{}
	for _, d := range bi.Deps {
		got[d.Path] = d.Version
	}
	for _, e := range GoPackages {
		if got[e.Name] != e.Version {
			return fmt.Errorf("testimages: fixture binary links %s %q, GoPackages expects %q: update GoPackages to go.mod",
				e.Name, got[e.Name], e.Version)
		}
	}
	return nil
}

// GoBinaryModules lists the modules (path -> version) in the fixture binary's build info, the main module
// excluded. Tests use it to check what syft reports beyond GoPackages.
func GoBinaryModules(p v1.Platform) (map[string]string, error) {
	b, err := GoBinary(p)
	if err != nil {
		return nil, err
	}
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	mods := map[string]string{}
	for _, d := range bi.Deps {
		mods[d.Path] = d.Version
	}
	return mods, nil
}

var (
	fixtureModOnce sync.Once
	fixtureModText string
	fixtureSumText string
	fixtureModErr  error
)

// fixtureModule returns go.mod and go.sum of the temporary module: this repository's requirements verbatim
// (same versions, no replace), and its go.sum.
func fixtureModule() (goMod, goSum string, err error) {
	fixtureModOnce.Do(func() {
		var root string
		root, fixtureModErr = repoRoot()
		if fixtureModErr != nil {
			return
		}
		var mod, sum []byte
		if mod, fixtureModErr = os.ReadFile(filepath.Join(root, "go.mod")); fixtureModErr != nil {
			return
		}
		if sum, fixtureModErr = os.ReadFile(filepath.Join(root, "go.sum")); fixtureModErr != nil {
			return
		}
		fixtureModText = rewriteGoMod(string(mod))
		fixtureSumText = string(sum)
	})
	return fixtureModText, fixtureSumText, fixtureModErr
}

// rewriteGoMod keeps the go/toolchain directives and the requirements of a go.mod under a new module path.
func rewriteGoMod(src string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\n", goAppModule)
	inRequire := false
	sc := bufio.NewScanner(strings.NewReader(src))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case inRequire:
			b.WriteString(line + "\n")
			if line == ")" {
				inRequire = false
			}
		case line == "require (":
			inRequire = true
			b.WriteString(line + "\n")
		case strings.HasPrefix(line, "require "), strings.HasPrefix(line, "go "), strings.HasPrefix(line, "toolchain "):
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// repoRoot finds the directory of this repository's go.mod: from this source file when available, else `go env GOMOD`.
func repoRoot() (string, error) {
	if _, self, _, ok := runtime.Caller(0); ok && filepath.IsAbs(self) {
		root := filepath.Join(filepath.Dir(self), "..", "..")
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			return filepath.Clean(root), nil
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("testimages: cannot locate go.mod (go env GOMOD): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("testimages: cannot locate go.mod: run from inside the imagewatch module")
	}
	return filepath.Dir(gomod), nil
}

func validName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\\ \t\n") || name == "." || name == ".." {
		return fmt.Errorf("testimages: invalid application name %q", name)
	}
	return nil
}

// stepAt spaces an application's build steps a few minutes after Epoch, per application name.
func stepAt(name string, n int) time.Duration {
	h := sha256.Sum256([]byte(name))
	return time.Duration(int(h[0])%30+n) * time.Minute
}
