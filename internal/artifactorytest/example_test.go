package artifactorytest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactorytest"
)

// A program (e.g. a demo binary) serves the double without package testing.
func ExampleNew() {
	srv := artifactorytest.New(artifactorytest.WithVersion("7.77.5"))
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.AddRepository(artifactorytest.Repository{Key: "docker-local"})
	img, _ := random.Image(64, 1)
	if _, err := srv.PushImage(context.Background(), "docker-local", "team/app", "1.0", img); err != nil {
		panic(err)
	}
	req, _ := http.NewRequest("GET", srv.URL()+"/artifactory/api/docker/docker-local/v2/team/app/tags/list", nil)
	req.SetBasicAuth(srv.AdminUser())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// {
	//   "name" : "team/app",
	//   "tags" : [ "1.0" ]
	// }
}
