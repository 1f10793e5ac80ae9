package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

// Redaction: Config, Integration and Output implement fmt.Formatter so that
// every verb (%v, %+v, %#v, %s, %d, ...) prints a copy whose secrets are
// replaced by a marker, and json tags keep them out of JSON logs.

const redacted = "[redacted]"

func mark(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}

// safeURL drops userinfo passwords, the query and the fragment: an output URL
// may carry a key there.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparseable url]"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

type integrationView struct {
	Name               string
	BaseURL            string
	Username           string
	Secret             string
	WebhookSecret      string
	Repositories       []string
	ImageFilters       []artifactory.ImageFilter
	CAFile             string
	InsecureSkipVerify bool
}

type outputView struct {
	Type   string
	Path   string
	URL    string
	Token  string
	APIKey string
}

type configView struct {
	Path            string
	AgentID         string
	Integrations    []integrationView
	IntegrationsDir string
	State           string
	Outputs         []outputView
	SBOMFormats     []string
	PollInterval    time.Duration
	Workers         int
	Listen          string
	APIToken        string
	LogFormat       string
	Unused          []string
}

func (i Integration) view() integrationView {
	return integrationView{
		Name: i.Name, BaseURL: safeURL(i.BaseURL), Username: i.Username, Secret: mark(i.Secret), WebhookSecret: mark(i.WebhookSecret),
		Repositories: i.Repositories, ImageFilters: i.ImageFilters, CAFile: i.CAFile,
		InsecureSkipVerify: i.InsecureSkipVerify,
	}
}

func (o Output) view() outputView {
	v := outputView{Type: o.Type, Path: o.Path, Token: mark(o.Token), APIKey: mark(o.APIKey)}
	if o.URL != "" {
		v.URL = safeURL(o.URL)
	}
	return v
}

func (c Config) view() configView {
	v := configView{
		Path: c.Path, AgentID: c.AgentID, IntegrationsDir: c.IntegrationsDir, State: c.State,
		SBOMFormats: c.SBOMFormats, PollInterval: c.PollInterval, Workers: c.Workers,
		Listen: c.Listen, APIToken: mark(c.APIToken), LogFormat: c.LogFormat, Unused: c.Unused,
	}
	for _, i := range c.Integrations {
		v.Integrations = append(v.Integrations, i.view())
	}
	for _, o := range c.Outputs {
		v.Outputs = append(v.Outputs, o.view())
	}
	return v
}

// format prints view with the caller's verb and flags; %s and %q fall back to %+v
// of the view so the output stays readable.
func format(f fmt.State, verb rune, view any) {
	switch verb {
	case 'v':
		switch {
		case f.Flag('#'):
			fmt.Fprintf(f, "%#v", view)
		case f.Flag('+'):
			fmt.Fprintf(f, "%+v", view)
		default:
			fmt.Fprintf(f, "%v", view)
		}
	default:
		fmt.Fprintf(f, "%+v", view)
	}
}

// Format implements fmt.Formatter with the secret redacted.
func (c Config) Format(f fmt.State, verb rune) { format(f, verb, c.view()) }

// Format implements fmt.Formatter with the secret redacted.
func (i Integration) Format(f fmt.State, verb rune) { format(f, verb, i.view()) }

// Format implements fmt.Formatter with the secrets redacted.
func (o Output) Format(f fmt.State, verb rune) { format(f, verb, o.view()) }

// String describes the integration without its secret.
func (i Integration) String() string { return fmt.Sprintf("%+v", i.view()) }

// String describes the output without its secrets.
func (o Output) String() string { return fmt.Sprintf("%+v", o.view()) }

// String describes the configuration without secrets.
func (c Config) String() string { return fmt.Sprintf("%+v", c.view()) }

// GoString implements fmt.GoStringer with the secret redacted.
func (i Integration) GoString() string { return fmt.Sprintf("%#v", i.view()) }

// GoString implements fmt.GoStringer with the secrets redacted.
func (o Output) GoString() string { return fmt.Sprintf("%#v", o.view()) }

// GoString implements fmt.GoStringer with secrets redacted.
func (c Config) GoString() string { return fmt.Sprintf("%#v", c.view()) }

// MarshalJSON keeps secrets and URL queries out of JSON logs (hclog's JSON format marshals fields).
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.view()) }

// MarshalJSON keeps secrets and URL queries out of JSON logs.
func (i Integration) MarshalJSON() ([]byte, error) { return json.Marshal(i.view()) }

// MarshalJSON keeps secrets and URL queries out of JSON logs.
func (o Output) MarshalJSON() ([]byte, error) { return json.Marshal(o.view()) }
