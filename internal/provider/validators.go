package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
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
	_ validator.String = engineURLValidator{}
	_ validator.String = listenValidator{}
	_ validator.String = envNameValidator{}
	_ validator.String = httpURLValidator{}
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

// durationValidator checks a Go duration string ("30s", "2m") within bounds; max 0 means no upper bound.
type durationValidator struct {
	min, max time.Duration
}

func (v durationValidator) Description(context.Context) string {
	if v.max == 0 {
		return fmt.Sprintf("must be a duration such as \"30s\" or \"2m\", at least %s", v.min)
	}
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
	case v.max == 0 && d < v.min:
		resp.Diagnostics.AddAttributeError(req.Path, "Duration too short",
			fmt.Sprintf("%s is shorter than the minimum %s.", d, v.min))
	case v.max != 0 && (d < v.min || d > v.max):
		resp.Diagnostics.AddAttributeError(req.Path, "Duration out of range",
			fmt.Sprintf("%s is outside the allowed range %s to %s.", d, v.min, v.max))
	}
}

// checkEngineURL checks the base URL of the engine's HTTP server.
func checkEngineURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw != "" && !strings.Contains(raw, "://"):
		return fmt.Errorf("%q has no scheme: write it like \"http://%s\"", raw, raw)
	case err != nil || raw == "":
		return fmt.Errorf("%q is not a URL: write it like \"http://127.0.0.1:9090\"", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q must use http or https, e.g. \"http://127.0.0.1:9090\"", raw)
	case u.Host == "":
		return fmt.Errorf("%q has no host: write it like \"http://127.0.0.1:9090\"", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("the engine URL must not contain credentials, a query or a fragment: give the token in token or engine_token")
	}
	return nil
}

// engineURLValidator checks engine_url.
type engineURLValidator struct{}

func (engineURLValidator) Description(context.Context) string {
	return "must be the http(s) base URL of the engine's server, e.g. http://127.0.0.1:9090"
}

func (v engineURLValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (engineURLValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := checkEngineURL(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid engine URL", err.Error())
	}
}

// httpURLValidator checks an output URL the way the engine does, without echoing it (its query may
// hold a key).
type httpURLValidator struct{}

func (httpURLValidator) Description(context.Context) string {
	return "must be an http(s) URL without credentials or fragment"
}

func (v httpURLValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (httpURLValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	u, err := url.Parse(req.ConfigValue.ValueString())
	var msg string
	switch {
	case err != nil:
		msg = "The value is not a valid URL: write it like \"https://host/path\"."
	case u.Scheme != "http" && u.Scheme != "https":
		msg = "The URL must use http or https."
	case u.Host == "":
		msg = "The URL has no host: write it like \"https://host/path\"."
	case u.User != nil:
		msg = "The URL must not contain credentials: reference the secret with token_env/token_file or api_key_env/api_key_file."
	case u.Fragment != "":
		msg = "The URL must not contain a #fragment."
	default:
		return
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Invalid output URL", msg)
}

// listenValidator checks a host:port listen address as the engine does.
type listenValidator struct{}

func (listenValidator) Description(context.Context) string {
	return "must be host:port, e.g. \"127.0.0.1:9090\" or \":9090\""
}

func (v listenValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (listenValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	host, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	switch {
	case err != nil:
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid listen address",
			fmt.Sprintf("%q is not host:port: write it like \"127.0.0.1:9090\" or \":9090\".", s))
	case strings.ContainsAny(host, "/ "):
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid listen address",
			fmt.Sprintf("%q has an invalid host: write it like \"127.0.0.1:9090\".", s))
	case perr != nil || n < 0 || n > 65535:
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid listen address",
			fmt.Sprintf("%q has an invalid port: use a number from 0 to 65535.", s))
	}
}

// envNamePattern is the engine's rule for *_env values: an environment variable name, never a
// pasted secret.
var envNamePattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)

// envNameValidator checks a *_env reference without echoing the value (it may be a pasted secret).
type envNameValidator struct{}

func (envNameValidator) Description(context.Context) string {
	return "must name an environment variable (upper-case letters, digits and _)"
}

func (v envNameValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (envNameValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if !envNamePattern.MatchString(req.ConfigValue.ValueString()) {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid environment variable name",
			"The value must name the environment variable holding the secret in the engine's environment "+
				"(upper-case letters, digits and _, e.g. \"INVENTORY_TOKEN\"). Secrets themselves are never written "+
				"into the engine configuration by this resource.")
	}
}
