package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

var _ function.Function = imageRefFunction{}

// tagPattern is the OCI distribution spec's tag grammar (ggcr does not check the first character).
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// NewImageRefFunction is the factory of provider::imagewatch::image_ref.
func NewImageRefFunction() function.Function { return imageRefFunction{} }

type imageRefFunction struct{}

func (imageRefFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "image_ref"
}

func (imageRefFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "Build the pullable reference of an image in an Artifactory Docker repository",
		MarkdownDescription: "Returns `<host[:port]>/<repository_key>/<image>:<tag>` (the repository-path access method), " +
			"or `...@sha256:<hex>` when `tag` is a digest. " +
			"`image_ref(\"https://acme.jfrog.io\", \"docker-local\", \"team/app\", \"1.2.0\")` returns " +
			"`\"acme.jfrog.io/docker-local/team/app:1.2.0\"`.",
		Parameters: []function.Parameter{
			function.StringParameter{
				Name:                "url",
				MarkdownDescription: "JFrog Platform or Artifactory URL, e.g. `https://acme.jfrog.io` or `http://host:8082/artifactory`.",
			},
			function.StringParameter{
				Name:                "repository_key",
				MarkdownDescription: "Docker repository key, e.g. `docker-local`.",
			},
			function.StringParameter{
				Name:                "image",
				MarkdownDescription: "Image name inside the repository, e.g. `team/app` (lower case).",
			},
			function.StringParameter{
				Name:                "tag",
				MarkdownDescription: "Tag (e.g. `1.2.0`) or digest (`sha256:<64 hex>`).",
			},
		},
		Return: function.StringReturn{},
	}
}

func (imageRefFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var rawURL, key, image, tag string
	resp.Error = req.Arguments.Get(ctx, &rawURL, &key, &image, &tag)
	if resp.Error != nil {
		return
	}
	ep, err := artifactory.ParseURL(rawURL)
	if err != nil {
		resp.Error = function.NewArgumentFuncError(0, err.Error())
		return
	}
	if err := artifactory.ValidRepositoryKey(key); err != nil {
		resp.Error = function.NewArgumentFuncError(1, err.Error())
		return
	}
	// Docker references are lower case; Artifactory keys need not be.
	if key != strings.ToLower(key) {
		resp.Error = function.NewArgumentFuncError(1, fmt.Sprintf(
			"%q has upper-case letters, which Docker image references do not allow", key))
		return
	}
	image = strings.Trim(image, "/")
	if image == "" {
		resp.Error = function.NewArgumentFuncError(2, "empty image name")
		return
	}
	// The host is fixed and valid, so a parse error here is about the image name.
	if _, err := name.NewRepository("registry.invalid/"+image, name.StrictValidation); err != nil {
		resp.Error = function.NewArgumentFuncError(2, fmt.Sprintf(
			"%q is not a valid image name: use lower-case letters, digits and '.', '_', '-' separated by '/'", image))
		return
	}
	if tag == "" {
		resp.Error = function.NewArgumentFuncError(3, "empty tag: give a tag such as \"latest\" or a digest \"sha256:...\"")
		return
	}
	if strings.Contains(tag, ":") {
		if _, err := name.NewDigest("registry.invalid/x@"+tag, name.StrictValidation); err != nil {
			resp.Error = function.NewArgumentFuncError(3, fmt.Sprintf("%q is neither a tag nor a valid digest (sha256:<64 hex>)", tag))
			return
		}
	} else if !tagPattern.MatchString(tag) {
		resp.Error = function.NewArgumentFuncError(3, fmt.Sprintf(
			"%q is not a valid tag: up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'", tag))
		return
	}
	ref := artifactory.ImageReference(ep.RegistryHost, key, image, tag)
	if _, err := name.ParseReference(ref, name.StrictValidation); err != nil {
		resp.Error = function.NewFuncError(fmt.Sprintf("the resulting reference %q is not valid: %s", ref, err))
		return
	}
	resp.Error = resp.Result.Set(ctx, ref)
}
