package artifactory_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
)

// pushed is what a test pushed: "repo/name:tag" -> digest.
type pushed map[string]string

func (f *fixture) pushSet(t *testing.T) pushed {
	t.Helper()
	p := pushed{}
	seed := 0
	for _, x := range []struct{ repo, image, tag string }{
		{"docker-local", "team/api", "1.0"},
		{"docker-local", "team/api", "1.1"},
		{"docker-local", "team/tmp-debug", "1.0"},
		{"docker-local", "tools/lint", "latest"},
		{"docker-prod", "app", "v2"},
	} {
		seed++
		p[x.repo+"/"+x.image+":"+x.tag] = f.push(t, x.repo, x.image, x.tag, seed)
	}
	idx, err := random.Index(64, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.srv.PushIndex(context.Background(), "docker-local", "team/multi", "2.0", idx)
	if err != nil {
		t.Fatal(err)
	}
	p["docker-local/team/multi:2.0"] = d
	return p
}

func describe(imgs []artifactory.Image) pushed {
	out := pushed{}
	for _, i := range imgs {
		out[i.Repository+"/"+i.Name+":"+i.Tag] = i.Digest
	}
	return out
}

func sameSet(t *testing.T, got, want pushed) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d images %v, want %d %v", len(got), got, len(want), want)
		return
	}
	for k, d := range want {
		if got[k] != d {
			t.Errorf("%s: digest %q, want %q", k, got[k], d)
		}
	}
}

func TestListImagesAQLAndFallbacksAgree(t *testing.T) {
	f := newFixture(t)
	want := f.pushSet(t)
	c := f.client(t, artifactory.Credentials{Username: bob, Secret: bobPass})
	ctx := context.Background()

	f.srv.ResetRequests()
	aqlList, err := c.ListImages(ctx, []string{"docker-local", "docker-prod"}, artifactory.ListImagesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sameSet(t, describe(aqlList), want)
	req := f.srv.Requests()
	if req["docker.catalog"] != 0 || req["docker.manifest"] != 0 || req["aql"] != 3 {
		t.Errorf("AQL listing: want 2 pages + 1 property batch and no Docker API calls: %v", req)
	}
	for i, img := range aqlList {
		if i > 0 {
			prev := aqlList[i-1]
			if prev.Repository > img.Repository || (prev.Repository == img.Repository && prev.Name > img.Name) {
				t.Errorf("not sorted at %d", i)
			}
		}
		if img.MediaType == "" || img.Modified.IsZero() || img.Created.IsZero() {
			t.Errorf("%s:%s lacks media type or times: %+v", img.Name, img.Tag, img)
		}
		if (img.Name == "team/multi") != img.MultiPlatform() {
			t.Errorf("%s: MultiPlatform %v (media type %s)", img.Name, img.MultiPlatform(), img.MediaType)
		}
		if wantRef := f.srv.RegistryHost() + "/" + img.Repository + "/" + img.Name + ":" + img.Tag; img.Reference != wantRef {
			t.Errorf("reference %q, want %q", img.Reference, wantRef)
		}
	}

	for _, status := range []int{403, 400, 404, 405, 401} {
		t.Run(fmt.Sprintf("AQL answers %d", status), func(t *testing.T) {
			f.srv.DisableAQL(status)
			defer f.srv.DisableAQL(0)
			f.srv.ResetRequests()
			list, err := c.ListImages(ctx, []string{"docker-local", "docker-prod"}, artifactory.ListImagesOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sameSet(t, describe(list), want)
			if n := f.srv.Requests()["docker.manifest"]; n != len(want) {
				t.Errorf("HEAD requests = %d, want one per tag (%d)", n, len(want))
			}
			byKey := map[string]artifactory.Image{}
			for _, i := range list {
				byKey[i.Name+":"+i.Tag] = i
			}
			if !byKey["team/multi:2.0"].MultiPlatform() || byKey["app:v2"].MultiPlatform() {
				t.Errorf("media types from HEAD: %+v", list)
			}
		})
	}

	// An AQL failure that is not a refusal is reported, naming the repositories.
	f.srv.DisableAQL(500)
	_, err = c.ListImages(ctx, []string{"docker-local"}, artifactory.ListImagesOptions{})
	f.srv.DisableAQL(0)
	if err == nil || !strings.Contains(err.Error(), `"docker-local"`) || artifactory.StatusCode(err) != 500 {
		t.Errorf("err = %v", err)
	}
}

func TestListImagesFiltersBeforeHEAD(t *testing.T) {
	f := newFixture(t)
	all := f.pushSet(t)
	c := f.client(t, artifactory.Credentials{Username: bob, Secret: bobPass})
	filters := []artifactory.ImageFilter{
		{Repository: "docker-local", Images: []string{"team/*"}, Exclude: []string{"team/tmp-*"}, Tags: `^1\.`},
	}
	want := pushed{
		"docker-local/team/api:1.0": all["docker-local/team/api:1.0"],
		"docker-local/team/api:1.1": all["docker-local/team/api:1.1"],
		"docker-prod/app:v2":        all["docker-prod/app:v2"], // no filter for docker-prod: everything
	}
	for _, method := range []string{artifactory.MethodAQL, artifactory.MethodCatalog} {
		t.Run(method, func(t *testing.T) {
			f.srv.ResetRequests()
			list, err := c.ListImages(context.Background(), []string{"docker-local", "docker-prod"}, artifactory.ListImagesOptions{Filters: filters, Method: method})
			if err != nil {
				t.Fatal(err)
			}
			sameSet(t, describe(list), want)
			req := f.srv.Requests()
			if method == artifactory.MethodCatalog {
				if req["docker.manifest"] != 3 {
					t.Errorf("HEAD requests = %d, want 3 (filtered tags are never resolved)", req["docker.manifest"])
				}
				if req["docker.tags"] != 3 { // team/api, team/multi, app: tools/lint and team/tmp-debug skipped
					t.Errorf("tags requests = %d, want 3", req["docker.tags"])
				}
			}
		})
	}
	_, err := c.ListImages(context.Background(), []string{"docker-local"}, artifactory.ListImagesOptions{Filters: []artifactory.ImageFilter{{Tags: "("}}})
	if err == nil || !strings.Contains(err.Error(), "image_filters[0].tags") {
		t.Errorf("bad filter: %v", err)
	}
}

func TestListImagesVirtualAndErrorsNameRepository(t *testing.T) {
	f := newFixture(t)
	all := f.pushSet(t)
	c := f.client(t, artifactory.Credentials{Username: bob, Secret: bobPass})
	list, err := c.ListImages(context.Background(), []string{"docker-virtual"}, artifactory.ListImagesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sameSet(t, describe(list), pushed{"docker-virtual/app:v2": all["docker-prod/app:v2"]})

	_, err = c.ListImages(context.Background(), []string{"docker-local", "no-such-repo"}, artifactory.ListImagesOptions{})
	if err == nil || !strings.Contains(err.Error(), `"no-such-repo"`) || !artifactory.IsNotFound(err) {
		t.Errorf("missing repository: %v", err)
	}
	_, err = c.ListImages(context.Background(), []string{"secret-local"}, artifactory.ListImagesOptions{Method: artifactory.MethodCatalog})
	if err == nil || !strings.Contains(err.Error(), `"secret-local"`) {
		t.Errorf("unreadable repository: %v", err)
	}
}

func TestFindManifestsIncrementalAgainstDouble(t *testing.T) {
	f := newFixture(t)
	f.pushSet(t)
	c := f.client(t, artifactory.Credentials{Username: bob, Secret: bobPass})
	ctx := context.Background()
	repos := []string{"docker-local", "docker-prod"}

	first, err := c.FindManifests(ctx, artifactory.ManifestQuery{Repositories: repos, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 6 {
		t.Fatalf("first scan: %d manifests: %+v", len(first), first)
	}
	for i := 1; i < len(first); i++ {
		if first[i].Modified.Before(first[i-1].Modified) {
			t.Errorf("not sorted by modified")
		}
	}
	cursor := first[len(first)-1].Modified

	// Idle poll: one AQL request however many tags exist.
	f.srv.ResetRequests()
	idle, err := c.FindManifests(ctx, artifactory.ManifestQuery{Repositories: repos, ModifiedAfter: cursor, PageSize: 2})
	if err != nil || len(idle) != 0 {
		t.Fatalf("idle: %v %v", idle, err)
	}
	if n := f.srv.Requests()["aql"]; n != 1 {
		t.Errorf("idle poll cost %d AQL requests, want 1", n)
	}

	time.Sleep(5 * time.Millisecond) // a later millisecond than the cursor
	d := f.push(t, "docker-prod", "app", "v3", 100)
	f.srv.ResetRequests()
	next, err := c.FindManifests(ctx, artifactory.ManifestQuery{Repositories: repos, ModifiedAfter: cursor, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(next) != 1 || next[0].Name != "app" || next[0].Tag != "v3" || next[0].Digest != d || next[0].Repository != "docker-prod" {
		t.Fatalf("incremental: %+v", next)
	}
	if n := f.srv.Requests()["aql"]; n != 3 { // page with the new tag, the empty page, one property batch
		t.Errorf("AQL requests = %d, want 3", n)
	}
}

func TestCatalogAndTagsAgainstDouble(t *testing.T) {
	f := newFixture(t)
	img := func(i int) v1.Image { return randomImage(t, i) }
	for i := 0; i < 7; i++ {
		if _, err := f.srv.PushImage(context.Background(), "docker-local", fmt.Sprintf("img%d", i), "t", img(i)); err != nil {
			t.Fatal(err)
		}
	}
	c := f.client(t, artifactory.Credentials{Username: bob, Secret: bobPass})
	names, err := c.Catalog(context.Background(), "docker-local")
	if err != nil || len(names) != 7 {
		t.Fatalf("catalog %v %v", names, err)
	}
	tags, err := c.Tags(context.Background(), "docker-local", "img3")
	if err != nil || len(tags) != 1 || tags[0] != "t" {
		t.Fatalf("tags %v %v", tags, err)
	}
	_, err = c.Tags(context.Background(), "docker-local", "nope")
	if !artifactory.IsNotFound(err) {
		t.Errorf("unknown image: %v", err)
	}
}

func TestAnonymousAccessFallsBackFromAQL(t *testing.T) {
	f := newFixture(t, artifactorytest.WithAnonymousAccess(true))
	all := f.pushSet(t)
	f.srv.Grant(artifactorytest.AnonymousUser, "docker-prod")
	c := f.client(t, artifactory.Credentials{})

	rep, err := c.TestConnection(context.Background(), []string{"docker-prod", "secret-local"})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.AuthOK || statuses(rep) != "docker-prod=ok secret-local=no_read_permission" {
		t.Fatalf("%v %s", rep.AuthOK, statuses(rep))
	}
	if !strings.Contains(rep.Repositories[1].Reason, "anonymous") {
		t.Errorf("reason %q", rep.Repositories[1].Reason)
	}

	// Artifactory refuses AQL to anonymous users (403); the Docker API still answers.
	f.srv.ResetRequests()
	list, err := c.ListImages(context.Background(), []string{"docker-prod"}, artifactory.ListImagesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sameSet(t, describe(list), pushed{"docker-prod/app:v2": all["docker-prod/app:v2"]})
	if req := f.srv.Requests(); req["aql"] != 1 || req["docker.catalog"] != 1 {
		t.Errorf("want one refused AQL call then the catalog: %v", req)
	}
}
