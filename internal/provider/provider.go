// Package provider implements the imagewatch Terraform provider: the Artifactory integration
// resource with its plan-time Test Connection, the image listing data source and the functions.
package provider

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

// Environment variables of the JFrog ecosystem (jf CLI, the artifactory provider) used as fallbacks.
const (
	EnvURL         = "JFROG_URL"
	EnvAccessToken = "JFROG_ACCESS_TOKEN"
	EnvUsername    = "JFROG_USERNAME"
)

// Environment variables of the provider's engine settings.
const (
	EnvEngineConfigDir = "IMAGEWATCH_ENGINE_CONFIG_DIR"
	EnvEngineURL       = "IMAGEWATCH_ENGINE_URL"
	EnvEngineToken     = "IMAGEWATCH_ENGINE_TOKEN"
)

const (
	defaultRequestTimeout = 30 * time.Second
	minRequestTimeout     = time.Second
	maxRequestTimeout     = 10 * time.Minute
)

var (
	_ provider.Provider              = (*imagewatchProvider)(nil)
	_ provider.ProviderWithFunctions = (*imagewatchProvider)(nil)
)

type imagewatchProvider struct {
	version string
	// inventoryPageSize overrides the inventory page size of imagewatch_engine_images (tests page
	// through a few rows instead of thousands); 0 means the server's maximum.
	inventoryPageSize int
}

// New returns the provider factory; version is the release version (set through main.version).
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &imagewatchProvider{version: version} }
}

type providerModel struct {
	URL                types.String `tfsdk:"url"`
	Username           types.String `tfsdk:"username"`
	AccessToken        types.String `tfsdk:"access_token"`
	CACertFile         types.String `tfsdk:"ca_cert_file"`
	InsecureSkipVerify types.Bool   `tfsdk:"insecure_skip_verify"`
	RequestTimeout     types.String `tfsdk:"request_timeout"`
	EngineConfigDir    types.String `tfsdk:"engine_config_dir"`
	EngineURL          types.String `tfsdk:"engine_url"`
	EngineToken        types.String `tfsdk:"engine_token"`
}

func (p *imagewatchProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "imagewatch"
	resp.Version = p.version
}

func (p *imagewatchProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Declare JFrog Artifactory integrations (URL, credentials, Docker repository keys, image " +
			"filters) that are checked at plan time, and list the images in them. The connection set here is the default " +
			"for every resource and data source; their own `url`, `username` and `access_token` override it. " +
			"`engine_config_dir`, `engine_url` and `engine_token` are the defaults for provisioning the imagewatch " +
			"engine and reading its inventory. Configuring the provider makes no network call.",
		Attributes: map[string]schema.Attribute{
			"url": schema.StringAttribute{
				MarkdownDescription: "JFrog Platform or Artifactory URL, e.g. `https://acme.jfrog.io` or " +
					"`http://artifactory.internal:8082/artifactory`. Defaults to the `" + EnvURL + "` environment variable.",
				Optional:   true,
				Validators: []validator.String{urlValidator()},
			},
			"username": schema.StringAttribute{
				MarkdownDescription: "Username. Leave it empty for an access or identity token (sent as Bearer) or a " +
					"legacy API key (sent as `X-JFrog-Art-Api`); set it to send Basic authentication with a password, " +
					"API key or token. Defaults to the `" + EnvUsername + "` environment variable.",
				Optional: true,
			},
			"access_token": schema.StringAttribute{
				MarkdownDescription: "Access token, identity/reference token, API key or password. Defaults to the `" +
					EnvAccessToken + "` environment variable.",
				Optional:  true,
				Sensitive: true,
			},
			"ca_cert_file": schema.StringAttribute{
				MarkdownDescription: "Path of a PEM file with the CA certificates to trust in addition to the system's, " +
					"for an Artifactory behind a private CA.",
				Optional: true,
			},
			"insecure_skip_verify": schema.BoolAttribute{
				MarkdownDescription: "Skip TLS certificate verification. Off by default; use only for testing.",
				Optional:            true,
			},
			"request_timeout": schema.StringAttribute{
				MarkdownDescription: fmt.Sprintf("How long one Artifactory call, and one Test Connection check as a "+
					"whole, may take including retries, as a duration such as `\"30s\"` or `\"2m\"` (%s to %s). "+
					"Default `\"30s\"`.", minRequestTimeout, maxRequestTimeout),
				Optional:   true,
				Validators: []validator.String{durationValidator(minRequestTimeout, maxRequestTimeout)},
			},
			"engine_config_dir": schema.StringAttribute{
				MarkdownDescription: "Default `engine_config_dir` of every `imagewatch_artifactory_integration`: the engine's " +
					"`integrations_dir`, where each integration is written as `<name>.json` (mode 0600) for the engine to " +
					"pick up without a restart. Defaults to the `" + EnvEngineConfigDir + "` environment variable; unset, " +
					"integrations write no file.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"engine_url": schema.StringAttribute{
				MarkdownDescription: "Base URL of the engine's HTTP server (its `listen` address), e.g. " +
					"`http://127.0.0.1:9090`, read by the `imagewatch_engine_images` data source. Defaults to the `" +
					EnvEngineURL + "` environment variable.",
				Optional:   true,
				Validators: []validator.String{engineURLValidator()},
			},
			"engine_token": schema.StringAttribute{
				MarkdownDescription: "Bearer token of the engine's inventory API (the engine's `api_token`). Defaults to " +
					"the `" + EnvEngineToken + "` environment variable.",
				Optional:  true,
				Sensitive: true,
			},
		},
	}
}

// Configure records the defaults and builds the client factory. It makes no network call, so
// terraform validate and plans of unrelated resources work offline.
func (p *imagewatchProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}

	data := &providerData{
		URL:            stringOrEnv(cfg.URL, EnvURL),
		Username:       stringOrEnv(cfg.Username, EnvUsername),
		AccessToken:    stringOrEnv(cfg.AccessToken, EnvAccessToken),
		RequestTimeout: defaultRequestTimeout,
		CACertFile:     cfg.CACertFile.ValueString(),
		Insecure:       cfg.InsecureSkipVerify.ValueBool(),
		EngineDir:      stringOrEnv(cfg.EngineConfigDir, EnvEngineConfigDir),
		EngineURL:      stringOrEnv(cfg.EngineURL, EnvEngineURL),
		EngineToken:    stringOrEnv(cfg.EngineToken, EnvEngineToken),
		inventoryPage:  p.inventoryPageSize,
	}
	// A URL from the environment did not go through the attribute validator.
	if cfg.URL.IsNull() && !data.URL.IsNull() {
		if _, err := artifactory.ParseURL(data.URL.ValueString()); err != nil {
			resp.Diagnostics.AddError("Invalid "+EnvURL+" environment variable", err.Error())
		}
	}
	if cfg.EngineURL.IsNull() && !data.EngineURL.IsNull() {
		if err := checkEngineURL(data.EngineURL.ValueString()); err != nil {
			resp.Diagnostics.AddError("Invalid "+EnvEngineURL+" environment variable", err.Error())
		}
	}
	for _, a := range []struct {
		name    string
		unknown bool
	}{
		{"ca_cert_file", cfg.CACertFile.IsUnknown()},
		{"insecure_skip_verify", cfg.InsecureSkipVerify.IsUnknown()},
		{"request_timeout", cfg.RequestTimeout.IsUnknown()},
	} {
		if a.unknown {
			resp.Diagnostics.AddAttributeError(path.Root(a.name), "Value must be known when the provider is configured",
				a.name+" depends on a value known only after apply; set it from a variable or a literal.")
		}
	}
	if !cfg.RequestTimeout.IsNull() && !cfg.RequestTimeout.IsUnknown() {
		d, err := time.ParseDuration(cfg.RequestTimeout.ValueString())
		if err != nil { // already reported by the validator; keep the default
			d = defaultRequestTimeout
		}
		data.RequestTimeout = d
	}
	if resp.Diagnostics.HasError() {
		return
	}

	settings := clientSettings{
		caCertFile: cfg.CACertFile.ValueString(),
		insecure:   cfg.InsecureSkipVerify.ValueBool(),
		timeout:    data.RequestTimeout,
		userAgent:  "terraform-provider-imagewatch/" + p.version,
	}
	data.newClient = settings.newClient

	resp.ResourceData = data
	resp.DataSourceData = data
}

func (p *imagewatchProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewArtifactoryIntegrationResource, NewEngineConfigResource}
}

func (p *imagewatchProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewArtifactoryImagesDataSource, NewEngineImagesDataSource}
}

func (p *imagewatchProvider) Functions(context.Context) []func() function.Function {
	return []func() function.Function{NewRepositoryKeysFunction, NewImageRefFunction}
}

// stringOrEnv returns v, or the environment variable when v is null. An unknown v stays unknown.
func stringOrEnv(v types.String, env string) types.String {
	if !v.IsNull() {
		return v
	}
	if s, ok := os.LookupEnv(env); ok && s != "" {
		return types.StringValue(s)
	}
	return types.StringNull()
}

// clientFactory builds an Artifactory client for one call of the provider. ctx is the RPC's context:
// the client's log lines go to tflog through it.
type clientFactory func(ctx context.Context, rawURL string, creds artifactory.Credentials) (*artifactory.Client, error)

// providerData is what resources and data sources receive from Configure: the provider-level connection
// defaults (each may be null, or unknown during plan) and the client factory.
type providerData struct {
	URL            types.String
	Username       types.String
	AccessToken    types.String
	RequestTimeout time.Duration
	CACertFile     string // written into integration fragments so the engine trusts the same CA
	Insecure       bool
	EngineDir      types.String // default engine_config_dir of integrations
	EngineURL      types.String // default engine_url of imagewatch_engine_images
	EngineToken    types.String
	inventoryPage  int // 0: inventoryPageSize
	newClient      clientFactory
}

// providerDataFrom is the nil-guarded, checked type assertion every Configure uses.
func providerDataFrom(raw any) (*providerData, error) {
	if raw == nil {
		return nil, nil
	}
	d, ok := raw.(*providerData)
	if !ok {
		return nil, fmt.Errorf("expected *providerData, got %T: this is a bug in the provider, please report it", raw)
	}
	return d, nil
}

type clientSettings struct {
	caCertFile string
	insecure   bool
	timeout    time.Duration
	userAgent  string
}

func (s clientSettings) newClient(ctx context.Context, rawURL string, creds artifactory.Credentials) (*artifactory.Client, error) {
	opts := []artifactory.Option{
		artifactory.WithCredentials(creds),
		artifactory.WithTimeout(s.timeout),
		artifactory.WithUserAgent(s.userAgent),
		artifactory.WithInsecureSkipVerify(s.insecure),
		artifactory.WithLogger(newClientLogger(ctx)),
	}
	if s.caCertFile != "" {
		opts = append(opts, artifactory.WithCAFile(s.caCertFile))
	}
	return artifactory.New(rawURL, opts...)
}

// newClientLogger returns an hclog logger whose lines go to tflog (and so to TF_LOG / TF_LOG_PROVIDER).
// It lives as long as the client built for one RPC, so it holds that RPC's context and nothing else.
func newClientLogger(ctx context.Context) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        "imagewatch", // the client adds ".artifactory"
		Level:       hclog.Debug,
		Output:      tflogWriter{ctx: ctx},
		DisableTime: true, // tflog stamps its own time
	})
}

// tflogWriter forwards formatted hclog lines ("[WARN]  artifactory: ...") to tflog at the same level.
type tflogWriter struct {
	ctx context.Context
}

func (w tflogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	switch {
	case strings.HasPrefix(line, "[ERROR]"):
		tflog.Error(w.ctx, line)
	case strings.HasPrefix(line, "[WARN]"):
		tflog.Warn(w.ctx, line)
	case strings.HasPrefix(line, "[INFO]"):
		tflog.Info(w.ctx, line)
	case strings.HasPrefix(line, "[TRACE]"):
		tflog.Trace(w.ctx, line)
	default:
		tflog.Debug(w.ctx, line)
	}
	return len(p), nil
}
