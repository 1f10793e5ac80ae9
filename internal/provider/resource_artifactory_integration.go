package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

var (
	_ resource.Resource                     = (*artifactoryIntegrationResource)(nil)
	_ resource.ResourceWithConfigure        = (*artifactoryIntegrationResource)(nil)
	_ resource.ResourceWithConfigValidators = (*artifactoryIntegrationResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*artifactoryIntegrationResource)(nil)
	_ resource.ResourceWithImportState      = (*artifactoryIntegrationResource)(nil)
)

var pathEngineConfigDir = path.Root("engine_config_dir")

// privateKeyCredentialSource is the private-state key recording where the secret came from.
const privateKeyCredentialSource = "credential_source"

// integrationNamePattern keeps names usable as file names and metric labels by the engine.
var integrationNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// NewArtifactoryIntegrationResource is the factory of imagewatch_artifactory_integration.
func NewArtifactoryIntegrationResource() resource.Resource { return &artifactoryIntegrationResource{} }

type artifactoryIntegrationResource struct {
	data *providerData
}

type integrationModel struct {
	ID                   types.String `tfsdk:"id"`
	Name                 types.String `tfsdk:"name"`
	URL                  types.String `tfsdk:"url"`
	Username             types.String `tfsdk:"username"`
	AccessToken          types.String `tfsdk:"access_token"`
	AccessTokenWO        types.String `tfsdk:"access_token_wo"`
	AccessTokenWOVersion types.Int64  `tfsdk:"access_token_wo_version"`
	RepositoryKeys       types.Set    `tfsdk:"repository_keys"`
	ImageFilters         types.List   `tfsdk:"image_filters"`
	TestConnection       types.Bool   `tfsdk:"test_connection"`
	ArtifactoryVersion   types.String `tfsdk:"artifactory_version"`
	RegistryHost         types.String `tfsdk:"registry_host"`
	Repositories         types.List   `tfsdk:"repositories"`
	EngineConfigDir      types.String `tfsdk:"engine_config_dir"`
	WebhookSecretWO      types.String `tfsdk:"webhook_secret_wo"`
	WebhookSecretVersion types.Int64  `tfsdk:"webhook_secret_wo_version"`
	EngineConfigFile     types.String `tfsdk:"engine_config_file"`
	EngineConfigSHA256   types.String `tfsdk:"engine_config_sha256"`
}

func (m integrationModel) connectionConfig() connectionConfig {
	return connectionConfig{URL: m.URL, Username: m.Username, AccessToken: m.AccessToken, AccessTokenWO: m.AccessTokenWO}
}

// repositoryAttrTypes is one element of the computed repositories attribute.
var repositoryAttrTypes = map[string]attr.Type{
	"key":          types.StringType,
	"class":        types.StringType,
	"package_type": types.StringType,
	"status":       types.StringType,
}

func (r *artifactoryIntegrationResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_artifactory_integration"
}

func (r *artifactoryIntegrationResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "An Artifactory integration: where Artifactory is, how to authenticate and which Docker " +
			"repositories (and images in them) to watch. Every plan that creates or changes it runs a *Test Connection* " +
			"check: the credentials must be valid, and every repository key must exist, be a Docker repository and be " +
			"readable. A failure is a plan error naming each failing repository and why. Refresh re-checks and reports " +
			"drift (a deleted repository, a lost permission) as warnings.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "Same as `name`.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "Unique name of the integration (letters, digits, `.`, `_`, `-`; at most 64 characters), " +
					"e.g. `prod`. Changing it replaces the resource. Import uses it.",
				Required:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators: []validator.String{
					stringvalidator.LengthBetween(1, 64),
					stringvalidator.RegexMatches(integrationNamePattern,
						"must start with a letter or digit and contain only letters, digits, '.', '_' and '-'"),
				},
			},
			"url": schema.StringAttribute{
				MarkdownDescription: "JFrog Platform or Artifactory URL, e.g. `https://acme.jfrog.io`. Defaults to the " +
					"provider's `url` (or `" + EnvURL + "`); the value used is recorded here.",
				Optional:   true,
				Computed:   true,
				Validators: []validator.String{urlValidator()},
			},
			"username": schema.StringAttribute{
				MarkdownDescription: "Username for Basic authentication. Leave it unset for an access token (sent as " +
					"Bearer) or a legacy API key. When neither `access_token` nor `access_token_wo` is set here, the " +
					"provider's username and token are used together.",
				Optional: true,
				Computed: true,
			},
			"access_token": schema.StringAttribute{
				MarkdownDescription: "Access token, identity/reference token, API key or password. Stored (sensitive) in " +
					"state; prefer `access_token_wo`. Defaults to the provider's `access_token` (or `" + EnvAccessToken + "`).",
				Optional:  true,
				Sensitive: true,
			},
			"access_token_wo": schema.StringAttribute{
				MarkdownDescription: "Write-only variant of `access_token` (Terraform 1.11 or later): used for the check, " +
					"never stored in the plan or state. Bump `access_token_wo_version` to apply a new token. Because the " +
					"token is not in state, refresh cannot re-check this integration; the next plan that changes it does.",
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
			},
			"access_token_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Version of `access_token_wo`: change it (e.g. increment it) whenever the token changes, " +
					"so Terraform plans an update and checks the new token.",
				Optional: true,
				Validators: []validator.Int64{
					int64validator.AlsoRequires(path.MatchRoot("access_token_wo")),
				},
			},
			"repository_keys": schema.SetAttribute{
				MarkdownDescription: repositoryKeysDescription,
				ElementType:         types.StringType,
				Required:            true,
				Validators:          repositoryKeysValidators(),
			},
			"image_filters": resourceImageFiltersAttribute(),
			"test_connection": schema.BoolAttribute{
				MarkdownDescription: "Run the Test Connection check when planning a change and on refresh. Default `true`; " +
					"set `false` to declare an integration that cannot be reached from where Terraform runs.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(true),
			},
			"artifactory_version": schema.StringAttribute{
				MarkdownDescription: "Artifactory version reported by the check, e.g. `7.77.5`. Null when `test_connection` is `false`.",
				Computed:            true,
			},
			"registry_host": schema.StringAttribute{
				MarkdownDescription: "Docker registry host of the repository-path access method (`host[:port]`): images " +
					"are pulled as `<registry_host>/<repository_key>/<image>:<tag>`.",
				Computed: true,
			},
			"engine_config_dir": schema.StringAttribute{
				MarkdownDescription: "The engine's `integrations_dir`: when set (here or as the provider's " +
					"`engine_config_dir`), this integration is written to `<engine_config_dir>/<name>.json` (atomically, " +
					"mode 0600) in the engine's format, with its token inline, for the engine to pick up without a " +
					"restart. Destroying the resource removes the file: the engine stops polling the integration and " +
					"keeps what it has analysed. Defaults to the provider's `engine_config_dir` (or `" + EnvEngineConfigDir + "`).",
				Optional:   true,
				Computed:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"webhook_secret_wo": schema.StringAttribute{
				MarkdownDescription: "Write-only secret of the Artifactory webhook (Docker `pushed` event) that triggers " +
					"an immediate poll of this integration: written into the engine file as `webhook_secret`, never into " +
					"plan or state. Bump `webhook_secret_wo_version` to apply a new one. Needs `engine_config_dir`.",
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
			},
			"webhook_secret_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Version of `webhook_secret_wo`: change it whenever the secret changes.",
				Optional:            true,
				Validators: []validator.Int64{
					int64validator.AlsoRequires(path.MatchRoot("webhook_secret_wo")),
				},
			},
			"engine_config_file": schema.StringAttribute{
				MarkdownDescription: "Path of the engine file written for this integration; null without `engine_config_dir`.",
				Computed:            true,
			},
			"engine_config_sha256": schema.StringAttribute{
				MarkdownDescription: "SHA-256 (hex) of the engine file with its secrets redacted (so it reveals nothing " +
					"of them). A refresh that finds the file removed or changed outside Terraform changes it, and the " +
					"next apply writes the file again.",
				Computed: true,
			},
			"repositories": schema.ListNestedAttribute{
				MarkdownDescription: "What the last check found for each key, sorted by key. Null when `test_connection` is `false`.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"key": schema.StringAttribute{
							MarkdownDescription: "Repository key.",
							Computed:            true,
						},
						"class": schema.StringAttribute{
							MarkdownDescription: "Repository class: `local`, `remote`, `virtual` or `federated` (null when not found).",
							Computed:            true,
						},
						"package_type": schema.StringAttribute{
							MarkdownDescription: "Package type, e.g. `docker` (null when not found).",
							Computed:            true,
						},
						"status": schema.StringAttribute{
							MarkdownDescription: "`ok`, `not_found`, `not_docker`, `no_read_permission`, `unauthorized` or `unreachable`.",
							Computed:            true,
						},
					},
				},
			},
		},
	}
}

func (r *artifactoryIntegrationResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.Conflicting(path.MatchRoot("access_token"), path.MatchRoot("access_token_wo")),
		resourcevalidator.PreferWriteOnlyAttribute(path.MatchRoot("access_token"), path.MatchRoot("access_token_wo")),
		filterRepositoriesValidator{},
	}
}

func (r *artifactoryIntegrationResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	data, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Unexpected provider data", err.Error())
		return
	}
	r.data = data
}

// ModifyPlan resolves the connection and runs the plan-time Test Connection check whenever the
// resource is created or changed and every value the check needs is known.
func (r *artifactoryIntegrationResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil { // destroy, or provider not configured yet
		return
	}
	var plan, config integrationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *integrationModel
	if !req.State.Raw.IsNull() {
		state = &integrationModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		if resp.Diagnostics.HasError() {
			return
		}
	}

	conn := r.data.resolve(config.connectionConfig())
	if conn.URL.IsNull() {
		resp.Diagnostics.Append(missingURLDiagnostic())
		return
	}
	plan.ID = plan.Name
	plan.URL = conn.URL
	plan.Username = conn.Username
	plan.RegistryHost = types.StringUnknown()
	if !conn.URL.IsUnknown() {
		ep, err := artifactory.ParseURL(conn.URL.ValueString())
		if err != nil { // validators and Configure checked every known url; keep the guard anyway
			resp.Diagnostics.AddAttributeError(path.Root("url"), "Invalid Artifactory URL", err.Error())
			return
		}
		plan.RegistryHost = types.StringValue(ep.RegistryHost)
	}
	resp.Diagnostics.Append(r.data.planFragment(ctx, &plan, config, conn)...)
	if !config.WebhookSecretWO.IsNull() && plan.EngineConfigDir.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("webhook_secret_wo"), "webhook_secret_wo needs engine_config_dir",
			"The webhook secret is only written into the engine file of this integration: set engine_config_dir here "+
				"or on the provider (or "+EnvEngineConfigDir+"), or remove webhook_secret_wo.")
	}
	if resp.Diagnostics.HasError() {
		return
	}

	// Keep the check's results when nothing else changes; otherwise they are known after apply.
	testing := !plan.TestConnection.IsNull() && (plan.TestConnection.IsUnknown() || plan.TestConnection.ValueBool())
	plan.ArtifactoryVersion, plan.Repositories = types.StringNull(), types.ListNull(types.ObjectType{AttrTypes: repositoryAttrTypes})
	if testing && state != nil {
		plan.ArtifactoryVersion, plan.Repositories = state.ArtifactoryVersion, state.Repositories
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	changed := state == nil || !resp.Plan.Raw.Equal(req.State.Raw)

	if !testing {
		return
	}
	if !changed {
		// Read re-checked already, except with a write-only token, which Read never sees: check
		// here, as warnings, since nothing is being changed.
		if conn.Source == credentialsWriteOnly {
			r.planCheck(ctx, conn, plan, diag.SeverityWarning, resp)
		}
		return
	}
	plan.ArtifactoryVersion = types.StringUnknown()
	plan.Repositories = types.ListUnknown(types.ObjectType{AttrTypes: repositoryAttrTypes})
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.planCheck(ctx, conn, plan, diag.SeverityError, resp)
}

// planCheck runs the check at plan time, or warns that it will run at apply when a value is unknown.
func (r *artifactoryIntegrationResource) planCheck(ctx context.Context, conn connection, plan integrationModel, severity diag.Severity, resp *resource.ModifyPlanResponse) {
	keys, keysKnown, diags := repositoryKeysFromSet(ctx, plan.RepositoryKeys)
	resp.Diagnostics.Append(diags...)
	unknown := conn.unknown()
	if !keysKnown {
		unknown = append(unknown, "repository_keys")
	}
	if plan.TestConnection.IsUnknown() {
		unknown = append(unknown, "test_connection")
	}
	if len(unknown) > 0 {
		verb := "are"
		if len(unknown) == 1 {
			verb = "is"
		}
		resp.Diagnostics.AddWarning("Test Connection will run at apply",
			fmt.Sprintf("The Artifactory Test Connection check cannot run during plan because %s %s known only after "+
				"apply. It will run when the integration is created or updated, and the apply fails if the check fails.",
				strings.Join(unknown, ", "), verb))
		return
	}
	client, diags := r.data.client(ctx, conn)
	resp.Diagnostics.Append(diags...)
	if diags.HasError() {
		return
	}
	defer client.HTTPClient().CloseIdleConnections()
	_, diags = r.data.checkConnection(ctx, client, keys, severity)
	resp.Diagnostics.Append(diags...)
}

func (r *artifactoryIntegrationResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan, config integrationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	source, diags := r.apply(ctx, &plan, config)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.data.writeFragment(ctx, &plan, config, nil)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateKeyCredentialSource, sourceJSON(source))...)
}

func (r *artifactoryIntegrationResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, config, prior integrationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	source, diags := r.apply(ctx, &plan, config)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.data.writeFragment(ctx, &plan, config, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateKeyCredentialSource, sourceJSON(source))...)
}

// apply completes the planned values for Create and Update, running the check (as errors) when
// test_connection is on: values unknown at plan are known now.
func (r *artifactoryIntegrationResource) apply(ctx context.Context, plan *integrationModel, config integrationModel) (credentialSource, diag.Diagnostics) {
	var diags diag.Diagnostics
	if r.data == nil {
		diags.AddError("Provider not configured", "The imagewatch provider was not configured; this is a bug, please report it.")
		return "", diags
	}
	conn := r.data.resolve(config.connectionConfig())
	if conn.URL.IsNull() {
		diags.Append(missingURLDiagnostic())
		return "", diags
	}
	ep, err := artifactory.ParseURL(conn.URL.ValueString())
	if err != nil {
		diags.AddAttributeError(path.Root("url"), "Invalid Artifactory URL", err.Error())
		return "", diags
	}
	plan.ID = plan.Name
	plan.URL = conn.URL
	plan.Username = conn.Username
	plan.RegistryHost = types.StringValue(ep.RegistryHost)
	plan.AccessTokenWO = types.StringNull()
	plan.WebhookSecretWO = types.StringNull()
	plan.ArtifactoryVersion = types.StringNull()
	plan.Repositories = types.ListNull(types.ObjectType{AttrTypes: repositoryAttrTypes})
	if !plan.TestConnection.ValueBool() {
		return conn.Source, diags
	}

	keys, _, d := repositoryKeysFromSet(ctx, plan.RepositoryKeys)
	diags.Append(d...)
	client, d := r.data.client(ctx, conn)
	diags.Append(d...)
	if diags.HasError() {
		return "", diags
	}
	defer client.HTTPClient().CloseIdleConnections()
	report, d := r.data.checkConnection(ctx, client, keys, diag.SeverityError)
	diags.Append(d...)
	if diags.HasError() {
		return "", diags
	}
	plan.ArtifactoryVersion = types.StringValue(report.Version.Version)
	plan.Repositories, d = repositoriesValue(report)
	diags.Append(d...)
	return conn.Source, diags
}

// Read re-checks the integration when test_connection is on: a repository that disappeared or lost its
// permission, expired credentials or a server that is down become warnings, and the state is kept.
func (r *artifactoryIntegrationResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state integrationModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || r.data == nil {
		return
	}
	// Fill what an import by name leaves empty.
	if state.ID.IsNull() {
		state.ID = state.Name
	}
	if state.TestConnection.IsNull() {
		state.TestConnection = types.BoolValue(true)
	}
	raw, diags := req.Private.GetKey(ctx, privateKeyCredentialSource)
	resp.Diagnostics.Append(diags...)
	var source credentialSource
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &source) // an unreadable marker means "provider", the import default
	}
	conn := connection{URL: state.URL, Username: state.Username, Secret: state.AccessToken, Source: source}
	if conn.URL.IsNull() && !r.data.URL.IsUnknown() {
		conn.URL = r.data.URL
		state.URL = r.data.URL
	}
	if state.AccessToken.IsNull() && source != credentialsWriteOnly && source != credentialsFromResource {
		conn.Secret = r.data.AccessToken
		if state.Username.IsNull() && !r.data.Username.IsUnknown() {
			conn.Username = r.data.Username
			state.Username = r.data.Username
		}
	}
	if !state.URL.IsNull() && !state.URL.IsUnknown() {
		if ep, err := artifactory.ParseURL(state.URL.ValueString()); err == nil {
			state.RegistryHost = types.StringValue(ep.RegistryHost)
		}
	}
	defer func() { resp.Diagnostics.Append(resp.State.Set(ctx, &state)...) }()

	expectedSecret := types.StringNull() // a write-only token is compared at plan time
	switch {
	case source == credentialsFromResource || !state.AccessToken.IsNull():
		expectedSecret = state.AccessToken
	case source != credentialsWriteOnly:
		expectedSecret = r.data.AccessToken
	}
	resp.Diagnostics.Append(r.data.readFragment(&state, expectedSecret)...)

	keys, _, diags := repositoryKeysFromSet(ctx, state.RepositoryKeys)
	resp.Diagnostics.Append(diags...)
	switch {
	case !state.TestConnection.ValueBool() || len(keys) == 0 || conn.URL.IsNull() || conn.URL.IsUnknown():
		return
	case source == credentialsWriteOnly:
		tflog.Debug(ctx, "not re-checking the integration on refresh: its token is write-only and not in state",
			map[string]any{"name": state.Name.ValueString()})
		return
	case conn.Secret.IsUnknown() || conn.Username.IsUnknown():
		return
	}
	client, diags := r.data.client(ctx, conn)
	if diags.HasError() {
		resp.Diagnostics.Append(asWarnings(diags)...)
		return
	}
	defer client.HTTPClient().CloseIdleConnections()
	report, diags := r.data.checkConnection(ctx, client, keys, diag.SeverityWarning)
	resp.Diagnostics.Append(diags...)
	if report == nil || !report.AuthOK {
		return // keep the last known results
	}
	state.ArtifactoryVersion = types.StringValue(report.Version.Version)
	repos, diags := repositoriesValue(report)
	resp.Diagnostics.Append(diags...)
	if !diags.HasError() {
		state.Repositories = repos
	}
}

// Delete removes the engine file, if any: the engine stops polling the integration and keeps what
// it analysed. Nothing exists in Artifactory for the declaration.
func (r *artifactoryIntegrationResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var file types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("engine_config_file"), &file)...)
	if resp.Diagnostics.HasError() || file.IsNull() || file.IsUnknown() {
		return
	}
	if err := removeFile(file.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(pathEngineConfigDir, "Cannot remove the engine file",
			err.Error()+". Remove it by hand to stop the engine polling this integration.")
	}
}

// ImportState takes the integration name, optionally followed by ":" and its repository keys
// ("prod" or "prod:docker-local,docker-prod"); the connection comes from the provider.
func (r *artifactoryIntegrationResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	name, keyList, hasKeys := strings.Cut(req.ID, ":")
	if !integrationNamePattern.MatchString(name) || len(name) > 64 {
		resp.Diagnostics.AddError("Invalid import ID",
			fmt.Sprintf("%q is not an integration name: use the name (letters, digits, '.', '_', '-'), optionally "+
				"followed by ':' and the repository keys, e.g. prod:docker-local,docker-prod.", req.ID))
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("name"), resource.ImportStateRequest{ID: name}, resp)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), name)...)
	if !hasKeys {
		return
	}
	keys := artifactory.SplitRepositoryKeys(keyList)
	for _, k := range keys {
		if err := artifactory.ValidRepositoryKey(k); err != nil {
			resp.Diagnostics.AddError("Invalid import ID", err.Error())
		}
	}
	if len(keys) == 0 {
		resp.Diagnostics.AddError("Invalid import ID", "No repository key after ':'; write prod:docker-local,docker-prod or just prod.")
	}
	if resp.Diagnostics.HasError() {
		return
	}
	set, diags := types.SetValueFrom(ctx, types.StringType, keys)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("repository_keys"), set)...)
}

// repositoriesValue converts the report's per-key checks (in key order) into the repositories attribute.
func repositoriesValue(report *artifactory.ConnectionReport) (types.List, diag.Diagnostics) {
	objType := types.ObjectType{AttrTypes: repositoryAttrTypes}
	elems := make([]attr.Value, 0, len(report.Repositories))
	var diags diag.Diagnostics
	for _, c := range report.Repositories {
		obj, d := types.ObjectValue(repositoryAttrTypes, map[string]attr.Value{
			"key":          types.StringValue(c.Key),
			"class":        nullIfEmpty(c.Repository.Class),
			"package_type": nullIfEmpty(c.Repository.PackageType),
			"status":       types.StringValue(c.Status),
		})
		diags.Append(d...)
		elems = append(elems, obj)
	}
	list, d := types.ListValue(objType, elems)
	diags.Append(d...)
	return list, diags
}

func nullIfEmpty(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func asWarnings(in diag.Diagnostics) diag.Diagnostics {
	out := make(diag.Diagnostics, 0, len(in))
	for _, d := range in {
		out = append(out, diag.NewWarningDiagnostic(d.Summary(), d.Detail()))
	}
	return out
}

// sourceJSON encodes a credential source as private state (which must be JSON).
func sourceJSON(s credentialSource) []byte { return []byte(strconv.Quote(string(s))) }
