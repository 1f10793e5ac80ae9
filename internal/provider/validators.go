package provider

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

// Attribute validators shared by the provider, the resource and the data source. None of them
// touches the network: they run during terraform validate.

var (
	_ validator.String = urlValidator{}
	_ validator.String = repositoryKeyValidator{}
	_ validator.String = globValidator{}
	_ validator.String = regexValidator{}
	_ validator.String = durationValidator{}
)

// urlValidator checks a JFrog Platform / Artifactory URL with the client's own parser.
type urlValidator struct{}

func (urlValidator) Description(context.Context) string {
	return "must be an http(s) JFrog Platform or Artifactory URL without credentials, query or fragment"
}

func (v urlValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (urlValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := artifactory.ParseURL(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Artifactory URL", err.Error())
	}
}

// repositoryKeyValidator checks Artifactory's repository key syntax.
type repositoryKeyValidator struct{}

func (repositoryKeyValidator) Description(context.Context) string {
	return "must be an Artifactory repository key: a letter or '_' followed by letters, digits, '-', '_' or '.', at most 64 characters"
}

func (v repositoryKeyValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (repositoryKeyValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := artifactory.ValidRepositoryKey(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid repository key", err.Error())
	}
}

// globValidator checks a doublestar glob on image names.
type globValidator struct{}

func (globValidator) Description(context.Context) string {
	return "must be a non-empty glob (`*`, `**`, `?`, `[...]`, `{a,b}`) on image names"
}

func (v globValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (globValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	p := req.ConfigValue.ValueString()
	switch {
	case p == "":
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid image glob",
			"The glob is empty. Remove the item, or use \"**\" to match every image.")
	case !doublestar.ValidatePattern(p):
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid image glob",
			fmt.Sprintf("%q is not a valid glob (check unbalanced '[' or '{' and dangling '\\'). "+
				"Examples: \"team/*\", \"**/app-*\", \"{api,web}\".", p))
	}
}

// regexValidator checks an RE2 regular expression (Go regexp syntax).
type regexValidator struct{}

func (regexValidator) Description(context.Context) string {
	return "must be an RE2 regular expression"
}

func (v regexValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (regexValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := regexp.Compile(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid tag regular expression",
			fmt.Sprintf("%s. The value is an RE2 regular expression matched against the tag, e.g. \"^v[0-9]+\\\\.\"; "+
				"lookarounds and backreferences are not supported.", err))
	}
}

// durationValidator checks a Go duration string ("30s", "2m") within bounds.
type durationValidator struct {
	min, max time.Duration
}

func (v durationValidator) Description(context.Context) string {
	return fmt.Sprintf("must be a duration such as \"30s\" or \"2m\", between %s and %s", v.min, v.max)
}

func (v durationValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v durationValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	d, err := time.ParseDuration(req.ConfigValue.ValueString())
	switch {
	case err != nil:
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration",
			fmt.Sprintf("%q is not a duration: write it like \"30s\", \"90s\" or \"2m\".", req.ConfigValue.ValueString()))
	case d < v.min || d > v.max:
		resp.Diagnostics.AddAttributeError(req.Path, "Duration out of range",
			fmt.Sprintf("%s is outside the allowed range %s to %s.", d, v.min, v.max))
	}
}
