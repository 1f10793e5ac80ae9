package analyze

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/testimages"
)

// TestAnalyzeThroughArtifactory pulls through the Artifactory double's repository-path Docker method with a
// read-only user (Bearer token flow), survives transient blob errors, and classifies a 401 as retryable.
func TestAnalyzeThroughArtifactory(t *testing.T) {
	f := loadFixtures(t)
	ctx := context.Background()
	srv := artifactorytest.NewTest(t)
	srv.AddRepository(artifactorytest.Repository{Key: "docker-local", Class: "local", PackageType: "docker"})
	srv.AddUser(artifactorytest.User{Name: "reader", Password: "reader-password"})
	srv.Grant("reader", "docker-local")
	digest, err := srv.PushImage(ctx, "docker-local", "shop/payments-api", "1.0.0", f.goApp)
	if err != nil {
		t.Fatal(err)
	}
	tagRef, err := name.ParseReference(srv.RegistryHost()+"/docker-local/shop/payments-api:1.0.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "reader", Password: "reader-password"})
	a := newAnalyzer(t)

	res, err := a.Resolve(ctx, tagRef, auth)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != digest || len(res.Platforms) != 1 {
		t.Fatalf("resolved %+v, pushed %s", res, digest)
	}

	// two 503s on blob downloads are absorbed by go-containerregistry's retry
	srv.SetFault(artifactorytest.Fault{Path: "/v2/docker-local/shop/payments-api/blobs/", Status: http.StatusServiceUnavailable, Count: 2})
	srv.ResetRequests()
	out, err := a.Analyze(ctx, tagRef.Context().Digest(digest), auth)
	if err != nil {
		t.Fatal(err)
	}
	assertPackagesIn(t, out.Metadata, f.goApp, 1, testimages.GoPackages...)
	assertPackagesIn(t, out.Metadata, f.goApp, 0, testimages.DebianPackages...)
	if hits := srv.FaultHits(); hits != 2 {
		t.Errorf("fault hit %d requests, want 2", hits)
	}
	// config came from Resolve's cache; three layers, two of them retried once
	if n := srv.Requests()["docker.blob"]; n != 5 {
		t.Errorf("%d blob requests, want 5 (3 layers + 2 retries)", n)
	}

	_, err = a.Resolve(ctx, tagRef, remote.WithAuth(&authn.Basic{Username: "reader", Password: "wrong"}))
	if err == nil || IsPermanent(err) || StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("bad credentials: %v (status %d), want a retryable 401", err, StatusCode(err))
	}
	if err != nil && strings.Contains(err.Error(), "wrong") {
		t.Errorf("error leaks the password: %v", err)
	}
}
