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

// Attribute validators shared by the provider, the resources and the data sources. None of them
// touches the network: they run during terraform validate.

var _ validator.String = stringCheck{}

// stringCheck is a string attribute validator made of a check function. Null and unknown values
// pass, so a value known only at apply never fails validation. The check's error is the
// diagnostic's detail, so it must not echo a value that may be a secret.
type stringCheck struct {
	description string
	summary     string
	check       func(string) error
}

func (v stringCheck) Description(context.Context) string { return v.description }

func (v stringCheck) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, v.summary, err.Error())
	}
}

// urlValidator checks a JFrog Platform / Artifactory URL with the client's own parser.
func urlValidator() stringCheck {
	return stringCheck{
		description: "must be an http(s) JFrog Platform or Artifactory URL without credentials, query or fragment",
		summary:     "Invalid Artifactory URL",
		check: func(s string) error {
			_, err := artifactory.ParseURL(s)
			return err
		},
	}
}

// repositoryKeyValidator checks Artifactory's repository key syntax.
func repositoryKeyValidator() stringCheck {
	return stringCheck{
		description: "must be an Artifactory repository key: a letter or '_' followed by letters, digits, '-', '_' or '.', at most 64 characters",
		summary:     "Invalid repository key",
		check:       artifactory.ValidRepositoryKey,
	}
}

// globValidator checks a doublestar glob on image names.
func globValidator() stringCheck {
	return stringCheck{
		description: "must be a non-empty glob (`*`, `**`, `?`, `[...]`, `{a,b}`) on image names",
		summary:     "Invalid image glob",
		check: func(p string) error {
			switch {
			case p == "":
				return errors.New("The glob is empty. Remove the item, or use \"**\" to match every image.")
			case !doublestar.ValidatePattern(p):
				return fmt.Errorf("%q is not a valid glob (check unbalanced '[' or '{' and dangling '\\'). "+
					"Examples: \"team/*\", \"**/app-*\", \"{api,web}\".", p)
			}
			return nil
		},
	}
}

// regexValidator checks an RE2 regular expression (Go regexp syntax).
func regexValidator() stringCheck {
	return stringCheck{
		description: "must be an RE2 regular expression",
		summary:     "Invalid tag regular expression",
		check: func(s string) error {
			if _, err := regexp.Compile(s); err != nil {
				return fmt.Errorf("%s. The value is an RE2 regular expression matched against the tag, e.g. \"^v[0-9]+\\\\.\"; "+
					"lookarounds and backreferences are not supported.", err)
			}
			return nil
		},
	}
}

// durationValidator checks a Go duration string ("30s", "2m") within bounds; max 0 means no upper bound.
func durationValidator(min, max time.Duration) stringCheck {
	description := fmt.Sprintf("must be a duration such as \"30s\" or \"2m\", between %s and %s", min, max)
	if max == 0 {
		description = fmt.Sprintf("must be a duration such as \"30s\" or \"2m\", at least %s", min)
	}
	return stringCheck{
		description: description,
		summary:     "Invalid duration",
		check: func(s string) error {
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				return fmt.Errorf("%q is not a duration: write it like \"30s\", \"90s\" or \"2m\".", s)
			case max == 0 && d < min:
				return fmt.Errorf("%s is shorter than the minimum %s.", d, min)
			case max != 0 && (d < min || d > max):
				return fmt.Errorf("%s is outside the allowed range %s to %s.", d, min, max)
			}
			return nil
		},
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
func engineURLValidator() stringCheck {
	return stringCheck{
		description: "must be the http(s) base URL of the engine's server, e.g. http://127.0.0.1:9090",
		summary:     "Invalid engine URL",
		check:       checkEngineURL,
	}
}

// httpURLValidator checks an output URL the way the engine does, without echoing it (its query may
// hold a key).
func httpURLValidator() stringCheck {
	return stringCheck{
		description: "must be an http(s) URL without credentials or fragment",
		summary:     "Invalid output URL",
		check: func(s string) error {
			u, err := url.Parse(s)
			switch {
			case err != nil:
				return errors.New("The value is not a valid URL: write it like \"https://host/path\".")
			case u.Scheme != "http" && u.Scheme != "https":
				return errors.New("The URL must use http or https.")
			case u.Host == "":
				return errors.New("The URL has no host: write it like \"https://host/path\".")
			case u.User != nil:
				return errors.New("The URL must not contain credentials: reference the secret with token_env/token_file or api_key_env/api_key_file.")
			case u.Fragment != "":
				return errors.New("The URL must not contain a #fragment.")
			}
			return nil
		},
	}
}

// listenValidator checks a host:port listen address as the engine does.
func listenValidator() stringCheck {
	return stringCheck{
		description: "must be host:port, e.g. \"127.0.0.1:9090\" or \":9090\"",
		summary:     "Invalid listen address",
		check: func(s string) error {
			host, port, err := net.SplitHostPort(s)
			n, perr := strconv.Atoi(port)
			switch {
			case err != nil:
				return fmt.Errorf("%q is not host:port: write it like \"127.0.0.1:9090\" or \":9090\".", s)
			case strings.ContainsAny(host, "/ "):
				return fmt.Errorf("%q has an invalid host: write it like \"127.0.0.1:9090\".", s)
			case perr != nil || n < 0 || n > 65535:
				return fmt.Errorf("%q has an invalid port: use a number from 0 to 65535.", s)
			}
			return nil
		},
	}
}

// envNamePattern is the engine's rule for *_env values: an environment variable name, never a
// pasted secret.
var envNamePattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)

// envNameValidator checks a *_env reference without echoing the value (it may be a pasted secret).
func envNameValidator() stringCheck {
	return stringCheck{
		description: "must name an environment variable (upper-case letters, digits and _)",
		summary:     "Invalid environment variable name",
		check: func(s string) error {
			if !envNamePattern.MatchString(s) {
				return errors.New("The value must name the environment variable holding the secret in the engine's environment " +
					"(upper-case letters, digits and _, e.g. \"INVENTORY_TOKEN\"). Secrets themselves are never written " +
					"into the engine configuration by this resource.")
			}
			return nil
		},
	}
}
