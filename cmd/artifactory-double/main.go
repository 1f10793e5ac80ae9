// Command artifactory-double serves imagewatch's in-process Artifactory test double, seeded with
// real images, for `make demo` and benchmarks. It is a development tool and is not released.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/testimages"
)

// demoUser is the non-admin user whose token the demo hands to Terraform.
const demoUser = "imagewatch"

// Info is what the double writes to -info once it serves: how to reach it.
type Info struct {
	URL          string   `json:"url"`
	RegistryHost string   `json:"registry_host"`
	Username     string   `json:"username"`
	AccessToken  string   `json:"access_token"`
	Repositories []string `json:"repositories"`
	Tags         int      `json:"tags"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("artifactory-double", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	infoPath := fs.String("info", "", "write connection details (URL, token) as JSON to this file (mode 0600)")
	seed := fs.Bool("seed", true, "push the benchmark corpus of real images")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "artifactory-double", Output: stderr, Level: hclog.Info})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv := artifactorytest.New(artifactorytest.WithListenAddr(*listen), artifactorytest.WithLogger(logger))
	if err := srv.Start(); err != nil {
		logger.Error("cannot serve", "error", err)
		return 1
	}
	defer srv.Close()

	info, err := setUp(ctx, srv, *seed)
	if err != nil {
		logger.Error("seeding failed", "error", err)
		return 1
	}
	if *infoPath != "" {
		if err := writeInfo(*infoPath, info); err != nil {
			logger.Error("cannot write info file", "error", err)
			return 1
		}
	}
	logger.Info("serving", "url", info.URL, "repositories", info.Repositories, "tags", info.Tags)
	<-ctx.Done()
	return 0
}

// setUp creates the demo repositories and user, then pushes the corpus through the double's own
// Docker API, the way `docker push` would.
func setUp(ctx context.Context, srv *artifactorytest.Server, seed bool) (Info, error) {
	repos := []string{testimages.CorpusDevRepository, testimages.CorpusProdRepository}
	for _, key := range repos {
		srv.AddRepository(artifactorytest.Repository{Key: key, Class: "local", PackageType: "docker"})
	}
	srv.AddRepository(artifactorytest.Repository{Key: "generic-local", Class: "local", PackageType: "generic"})
	srv.AddUser(artifactorytest.User{Name: demoUser})
	for _, key := range repos {
		srv.Grant(demoUser, key)
	}
	info := Info{
		URL:          srv.URL(),
		RegistryHost: srv.RegistryHost(),
		Username:     demoUser,
		AccessToken:  srv.IssueToken(demoUser, 24*time.Hour),
		Repositories: repos,
	}
	if !seed {
		return info, nil
	}
	entries, err := testimages.Corpus()
	if err != nil {
		return Info{}, err
	}
	for _, e := range entries {
		if _, err := srv.PushImage(ctx, e.Repository, e.Name, e.Tag, e.Image); err != nil {
			return Info{}, fmt.Errorf("push %s/%s:%s: %w", e.Repository, e.Name, e.Tag, err)
		}
	}
	info.Tags = len(entries)
	return info, nil
}

// writeInfo writes atomically with mode 0600: the file holds an access token.
func writeInfo(path string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}
