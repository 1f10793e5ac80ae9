package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/config"
)

var (
	_ resource.Resource                     = (*engineConfigResource)(nil)
	_ resource.ResourceWithConfigValidators = (*engineConfigResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*engineConfigResource)(nil)
)

// NewEngineConfigResource is the factory of imagewatch_engine_config.
func NewEngineConfigResource() resource.Resource { return &engineConfigResource{} }

// engineConfigResource writes the engine's main configuration file. It needs nothing from the
// provider: the file is local and carries secrets only by reference.
type engineConfigResource struct{}

type engineConfigModel struct {
	ID              types.String `tfsdk:"id"`
	Path            types.String `tfsdk:"path"`
	AgentID         types.String `tfsdk:"agent_id"`
	IntegrationsDir types.String `tfsdk:"integrations_dir"`
	State           types.String `tfsdk:"state"`
	Outputs         types.List   `tfsdk:"outputs"`
	PollInterval    types.String `tfsdk:"poll_interval"`
	Workers         types.Int64  `tfsdk:"workers"`
	SBOMFormats     types.Set    `tfsdk:"sbom_formats"`
	Listen          types.String `tfsdk:"listen"`
	LogFormat       types.String `tfsdk:"log_format"`
	APITokenEnv     types.String `tfsdk:"api_token_env"`
	APITokenFile    types.String `tfsdk:"api_token_file"`
	Content         types.String `tfsdk:"content"`
	ContentSHA256   types.String `tfsdk:"content_sha256"`
}

type engineOutputModel struct {
	Type       types.String `tfsdk:"type"`
	Path       types.String `tfsdk:"path"`
	URL        types.String `tfsdk:"url"`
	TokenEnv   types.String `tfsdk:"token_env"`
	TokenFile  types.String `tfsdk:"token_file"`
	APIKeyEnv  types.String `tfsdk:"api_key_env"`
	APIKeyFile types.String `tfsdk:"api_key_file"`
}

// engineOutputFields lists, per output type, the attributes it takes besides type; the engine
// rejects the others, so plan does too.
var engineOutputFields = map[string][]string{
	config.OutputDirectory:       {"path"},
	config.OutputHTTP:            {"url", "token_env", "token_file"},
	config.OutputDependencyTrack: {"url", "api_key_env", "api_key_file"},
}

// engineConfigFile is the JSON written: the engine's format (internal/engine/config), field order
// fixed so the same settings always give the same bytes.
type engineConfigFile struct {
	AgentID         string             `json:"agent_id,omitempty"`
	IntegrationsDir string             `json:"integrations_dir"`
	State           string             `json:"state,omitempty"`
	Outputs         []engineOutputFile `json:"outputs,omitempty"`
	SBOMFormats     []string           `json:"sbom_formats,omitempty"`
	PollInterval    string             `json:"poll_interval,omitempty"`
	Workers         int64              `json:"workers,omitempty"`
	Listen          string             `json:"listen,omitempty"`
	LogFormat       string             `json:"log_format,omitempty"`
	APITokenEnv     string             `json:"api_token_env,omitempty"`
	APITokenFile    string             `json:"api_token_file,omitempty"`
}

type engineOutputFile struct {
	Type       string `json:"type"`
	Path       string `json:"path,omitempty"`
	URL        string `json:"url,omitempty"`
	TokenEnv   string `json:"token_env,omitempty"`
	TokenFile  string `json:"token_file,omitempty"`
	APIKeyEnv  string `json:"api_key_env,omitempty"`
	APIKeyFile string `json:"api_key_file,omitempty"`
}

func (r *engineConfigResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_engine_config"
}

func (r *engineConfigResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	optionalString := func(desc string, validators ...validator.String) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Optional: true, Validators: validators}
	}
	// Secret references of an output: an environment variable name or a file, never the secret.
	conflicts := func(other string) validator.String {
		return stringvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName(other))
	}
	envAttr := func(desc, other string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Optional: true,
			Validators: []validator.String{conflicts(other), envNameValidator()}}
	}
	fileAttr := func(desc, other string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Optional: true,
			Validators: []validator.String{conflicts(other), stringvalidator.LengthAtLeast(1)}}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "The engine's main configuration file (`imagewatch-engine run --config <path>`), written " +
			"atomically with mode 0600 (its directory is created with mode 0700 when missing). The engine reads its " +
			"integrations from `integrations_dir`, where `imagewatch_artifactory_integration` writes one file each. " +
			"Secrets are only referenced (`*_env`, `*_file`), so neither the file nor the state holds one, and " +
			"`content` can be put in a Kubernetes Secret or a config management tool as is. A refresh that finds the " +
			"file changed or removed outside Terraform plans to restore it; destroy removes it. Relative paths in the " +
			"settings are resolved by the engine against the directory of `path`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "Same as `path`.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"path": schema.StringAttribute{
				MarkdownDescription: "Path of the configuration file, e.g. `/etc/imagewatch/config.json`. Changing it " +
					"replaces the resource (the old file is removed).",
				Required:      true,
				Validators:    []validator.String{stringvalidator.LengthAtLeast(1)},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"agent_id": optionalString("Name of this engine instance, as in Docker Scout's agent `config.json`."),
			"integrations_dir": schema.StringAttribute{
				MarkdownDescription: "Directory of the integration files, watched by the engine (a new, changed or " +
					"removed file is picked up without a restart). Set the integrations' `engine_config_dir` (or the " +
					"provider's) to the same directory. Created with mode 0700 when missing.",
				Required:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"state": optionalString("The engine's store: an SQLite file path or `sqlite:///absolute/path.db`. Default: "+
				"`"+config.DefaultStateFile+"` beside the configuration file.",
				stringvalidator.LengthAtLeast(1)),
			"outputs": schema.ListNestedAttribute{
				MarkdownDescription: "Where results go. Default: one `directory` output, `" + config.DefaultResultsDir +
					"/` beside the configuration file. Secrets (an HTTP bearer token, a Dependency-Track API key) are " +
					"given by reference only: the name of an environment variable of the engine, or a file it reads.",
				Optional:   true,
				Validators: []validator.List{listvalidator.SizeAtLeast(1)},
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"type": schema.StringAttribute{
							MarkdownDescription: "`directory` (`<path>/sha256/<hex>/` with `metadata.json` and the SBOMs), " +
								"`http` (a JSON envelope POSTed to `url`) or `dependency_track` (`PUT /api/v1/bom` on `url`).",
							Required:   true,
							Validators: []validator.String{stringvalidator.OneOf(config.OutputTypes...)},
						},
						"path": schema.StringAttribute{
							MarkdownDescription: "`directory`: the results directory.",
							Optional:            true,
							Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
						},
						"url": schema.StringAttribute{
							MarkdownDescription: "`http`: the endpoint results are POSTed to; `dependency_track`: the " +
								"Dependency-Track API server, e.g. `https://dtrack.internal`.",
							Optional:   true,
							Validators: []validator.String{httpURLValidator()},
						},
						"token_env":    envAttr("`http`: environment variable holding the bearer token.", "token_file"),
						"token_file":   fileAttr("`http`: file holding the bearer token.", "token_env"),
						"api_key_env":  envAttr("`dependency_track`: environment variable holding the API key (needs BOM_UPLOAD and PROJECT_CREATION_UPLOAD).", "api_key_file"),
						"api_key_file": fileAttr("`dependency_track`: file holding the API key.", "api_key_env"),
					},
				},
			},
			"poll_interval": optionalString(fmt.Sprintf("How often each integration is polled, as a duration such as "+
				"`\"60s\"` or `\"5m\"` (at least %s). Default `\"%s\"`.", config.MinPollInterval, config.DefaultPollInterval),
				durationValidator(config.MinPollInterval, 0)),
			"workers": schema.Int64Attribute{
				MarkdownDescription: "Images analysed in parallel (at least 1). Default: one per CPU.",
				Optional:            true,
				Validators:          []validator.Int64{int64validator.AtLeast(1)},
			},
			"sbom_formats": schema.SetAttribute{
				MarkdownDescription: "SBOM formats produced: `" + strings.Join(config.SBOMFormats, "`, `") + "`. Default `[\"" +
					config.DefaultSBOMFormat + "\"]`.",
				ElementType: types.StringType,
				Optional:    true,
				Validators: []validator.Set{
					setvalidator.SizeAtLeast(1),
					setvalidator.ValueStringsAre(stringvalidator.OneOf(config.SBOMFormats...)),
				},
			},
			"listen": optionalString("host:port of the engine's server (health, readiness, Prometheus metrics, the "+
				"inventory API read by `imagewatch_engine_images`, the Artifactory webhook), e.g. `\"127.0.0.1:9090\"`. "+
				"Unset: no server.", listenValidator()),
			"log_format": optionalString("`text` (default) or `json`.", stringvalidator.OneOf("text", "json")),
			"api_token_env": optionalString("Environment variable of the engine holding the bearer token required "+
				"by its inventory API (`/api/v1/images`). Unset (with `api_token_file`): the inventory is open, so keep "+
				"`listen` on localhost.", envNameValidator()),
			"api_token_file": optionalString("File holding the inventory API's bearer token (instead of `api_token_env`).",
				stringvalidator.LengthAtLeast(1)),
			"content": schema.StringAttribute{
				MarkdownDescription: "The exact text of the file, e.g. for a Kubernetes Secret or ConfigMap. It holds no secret.",
				Computed:            true,
			},
			"content_sha256": schema.StringAttribute{
				MarkdownDescription: "SHA-256 (hex) of the file. A refresh that finds the file changed outside Terraform " +
					"records the file's hash here, so the next plan shows an update that restores it.",
				Computed: true,
			},
		},
	}
}

func (r *engineConfigResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.Conflicting(path.MatchRoot("api_token_env"), path.MatchRoot("api_token_file")),
		engineOutputsValidator{},
	}
}

// ModifyPlan renders the file from the planned settings, so a file changed on disk (whose hash
// Read recorded) shows as a diff, and content is known at plan whenever the settings are.
func (r *engineConfigResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan engineConfigModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ID = plan.Path
	if !plan.Path.IsUnknown() && !plan.IntegrationsDir.IsUnknown() {
		file, dir := filepath.Clean(plan.Path.ValueString()), plan.IntegrationsDir.ValueString()
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(file), dir)
		}
		if filepath.Clean(dir) == filepath.Dir(file) {
			resp.Diagnostics.AddAttributeError(path.Root("integrations_dir"), "integrations_dir holds the configuration file",
				fmt.Sprintf("integrations_dir is %s, the directory of path: the engine would load %s as an integration. "+
					"Use a directory of its own, e.g. %s.", filepath.Dir(file), filepath.Base(file),
					filepath.Join(filepath.Dir(file), "integrations.d")))
			return
		}
	}
	plan.Content, plan.ContentSHA256 = types.StringUnknown(), types.StringUnknown()
	if content, known, diags := renderEngineConfig(ctx, plan); diags.HasError() {
		resp.Diagnostics.Append(diags...)
		return
	} else if known {
		plan.Content, plan.ContentSHA256 = types.StringValue(string(content)), types.StringValue(sha256Hex(content))
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (r *engineConfigResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	resp.Diagnostics.Append(r.apply(ctx, req.Plan, &resp.State)...)
}

func (r *engineConfigResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	resp.Diagnostics.Append(r.apply(ctx, req.Plan, &resp.State)...)
}

// apply writes the planned file and records the plan as the new state: Create and Update differ
// in nothing else.
func (r *engineConfigResource) apply(ctx context.Context, planned tfsdk.Plan, state *tfsdk.State) diag.Diagnostics {
	var plan engineConfigModel
	diags := planned.Get(ctx, &plan)
	if diags.HasError() {
		return diags
	}
	diags.Append(r.write(ctx, &plan)...)
	if diags.HasError() {
		return diags
	}
	diags.Append(state.Set(ctx, &plan)...)
	return diags
}

// write renders and writes the file, and creates integrations_dir, which the engine requires to exist.
func (r *engineConfigResource) write(ctx context.Context, m *engineConfigModel) diag.Diagnostics {
	content, _, diags := renderEngineConfig(ctx, *m)
	if diags.HasError() {
		return diags
	}
	file := m.Path.ValueString()
	if err := writeFileAtomic(file, content); err != nil {
		diags.AddAttributeError(path.Root("path"), "Cannot write the engine configuration",
			err.Error()+". Check that the directory is writable by the user running Terraform.")
		return diags
	}
	dir := m.IntegrationsDir.ValueString()
	if !filepath.IsAbs(dir) { // the engine resolves it against the config file's directory
		dir = filepath.Join(filepath.Dir(file), dir)
	}
	if err := mkdirPrivate(dir); err != nil {
		diags.AddAttributeError(path.Root("integrations_dir"), "Cannot create integrations_dir",
			err.Error()+". The engine needs this directory to exist; create it or fix the path.")
		return diags
	}
	m.ID = m.Path
	m.Content = types.StringValue(string(content))
	m.ContentSHA256 = types.StringValue(sha256Hex(content))
	return diags
}

// Read compares the file on disk with the state: a removed file removes the resource (the next
// plan recreates it); a changed one, or one readable by others, shows as a diff of content_sha256.
func (r *engineConfigResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state engineConfigModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	f, err := readEngineFile(state.Path.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("path"), "Cannot read the engine configuration", err.Error())
		return
	}
	if !f.exists {
		resp.Diagnostics.AddWarning("Engine configuration removed outside Terraform",
			fmt.Sprintf("%s no longer exists; the next apply writes it again.", state.Path.ValueString()))
		resp.State.RemoveResource(ctx)
		return
	}
	state.Content = types.StringValue(strings.ToValidUTF8(string(f.data), "\uFFFD"))
	state.ContentSHA256 = types.StringValue(sha256Hex(f.data))
	if f.openToOthers() {
		state.ContentSHA256 = types.StringNull() // forces a rewrite, which restores mode 0600
		resp.Diagnostics.AddWarning("Engine configuration readable by others",
			fmt.Sprintf("%s has mode %04o (or is no longer a file); the next apply writes it again with mode 0600.",
				state.Path.ValueString(), f.mode.Perm()))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *engineConfigResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state engineConfigModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := removeFile(state.Path.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("path"), "Cannot remove the engine configuration", err.Error())
	}
}

// renderEngineConfig builds the file's bytes from m. known is false while a setting is unknown.
func renderEngineConfig(ctx context.Context, m engineConfigModel) (content []byte, known bool, diags diag.Diagnostics) {
	if !allKnown(m.Path, m.AgentID, m.IntegrationsDir, m.State, m.Outputs, m.PollInterval, m.Workers, m.SBOMFormats,
		m.Listen, m.LogFormat, m.APITokenEnv, m.APITokenFile) {
		return nil, false, nil
	}
	f := engineConfigFile{
		AgentID:         m.AgentID.ValueString(),
		IntegrationsDir: m.IntegrationsDir.ValueString(),
		State:           m.State.ValueString(),
		PollInterval:    m.PollInterval.ValueString(),
		Workers:         m.Workers.ValueInt64(),
		Listen:          m.Listen.ValueString(),
		LogFormat:       m.LogFormat.ValueString(),
		APITokenEnv:     m.APITokenEnv.ValueString(),
		APITokenFile:    m.APITokenFile.ValueString(),
	}
	if !m.SBOMFormats.IsNull() {
		diags.Append(m.SBOMFormats.ElementsAs(ctx, &f.SBOMFormats, false)...)
		slices.Sort(f.SBOMFormats) // a set has no order; the file must not change with it
	}
	if !m.Outputs.IsNull() {
		var outs []engineOutputModel
		diags.Append(m.Outputs.ElementsAs(ctx, &outs, false)...)
		for _, o := range outs {
			f.Outputs = append(f.Outputs, engineOutputFile{
				Type: o.Type.ValueString(), Path: o.Path.ValueString(), URL: o.URL.ValueString(),
				TokenEnv: o.TokenEnv.ValueString(), TokenFile: o.TokenFile.ValueString(),
				APIKeyEnv: o.APIKeyEnv.ValueString(), APIKeyFile: o.APIKeyFile.ValueString(),
			})
		}
	}
	if diags.HasError() {
		return nil, false, diags
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		diags.AddError("Cannot render the engine configuration", err.Error())
		return nil, false, diags
	}
	return append(b, '\n'), true, diags
}

// allKnown reports whether every value, and every element or attribute inside it, is known.
func allKnown(vals ...attr.Value) bool {
	for _, v := range vals {
		if v.IsUnknown() {
			return false
		}
		if v.IsNull() {
			continue
		}
		switch c := v.(type) {
		case types.List:
			if !allKnown(c.Elements()...) {
				return false
			}
		case types.Set:
			if !allKnown(c.Elements()...) {
				return false
			}
		case types.Object:
			for _, a := range c.Attributes() {
				if !allKnown(a) {
					return false
				}
			}
		}
	}
	return true
}

// engineOutputsValidator checks each output's attributes against its type, as the engine would at
// startup, and rejects duplicate outputs.
type engineOutputsValidator struct{}

var _ resource.ConfigValidator = engineOutputsValidator{}

func (engineOutputsValidator) Description(context.Context) string {
	return "each output sets exactly the attributes its type takes"
}

func (v engineOutputsValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (engineOutputsValidator) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var outputs types.List
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("outputs"), &outputs)...)
	if resp.Diagnostics.HasError() || outputs.IsNull() || outputs.IsUnknown() {
		return
	}
	seen := map[string]int{}
	for i, e := range outputs.Elements() {
		obj, ok := e.(types.Object)
		if !ok || obj.IsNull() || obj.IsUnknown() {
			continue
		}
		attrs := obj.Attributes()
		typ, ok := attrs["type"].(types.String)
		if !ok || typ.IsNull() || typ.IsUnknown() {
			continue
		}
		takes, known := engineOutputFields[typ.ValueString()]
		if !known {
			continue // the type's own validator reports it
		}
		p := path.Root("outputs").AtListIndex(i)
		set := func(name string) bool {
			s, ok := attrs[name].(types.String)
			return ok && !s.IsNull()
		}
		unknownAny := false
		for _, name := range []string{"path", "url", "token_env", "token_file", "api_key_env", "api_key_file"} {
			if s, ok := attrs[name].(types.String); ok && s.IsUnknown() {
				unknownAny = true
			}
			if set(name) && !slices.Contains(takes, name) {
				resp.Diagnostics.AddAttributeError(p.AtName(name), "Attribute not used by this output type",
					fmt.Sprintf("outputs[%d].%s is not used by a %s output: remove it (a %s output takes %s).",
						i, name, typ.ValueString(), typ.ValueString(), strings.Join(takes, ", ")))
			}
		}
		switch typ.ValueString() {
		case config.OutputDirectory:
			if !set("path") {
				resp.Diagnostics.AddAttributeError(p.AtName("path"), "Missing output path",
					fmt.Sprintf("outputs[%d] is a directory output: set path to the directory results are written to.", i))
			}
		case config.OutputHTTP, config.OutputDependencyTrack:
			if !set("url") {
				resp.Diagnostics.AddAttributeError(p.AtName("url"), "Missing output URL",
					fmt.Sprintf("outputs[%d] is a %s output: set url.", i, typ.ValueString()))
			}
			if typ.ValueString() == config.OutputDependencyTrack && !set("api_key_env") && !set("api_key_file") {
				resp.Diagnostics.AddAttributeError(p.AtName("api_key_env"), "Missing Dependency-Track API key",
					fmt.Sprintf("outputs[%d]: Dependency-Track needs an API key: set api_key_env (or api_key_file) to "+
						"a key with the BOM_UPLOAD and PROJECT_CREATION_UPLOAD permissions.", i))
			}
		}
		if unknownAny {
			continue
		}
		id := typ.ValueString() + " " + stringAttr(attrs, "path") + stringAttr(attrs, "url")
		if prev, dup := seen[id]; dup {
			resp.Diagnostics.AddAttributeError(p, "Duplicate output",
				fmt.Sprintf("outputs[%d] is the same %s output as outputs[%d]: remove one.", i, typ.ValueString(), prev))
			continue
		}
		seen[id] = i
	}
}

func stringAttr(attrs map[string]attr.Value, name string) string {
	if s, ok := attrs[name].(types.String); ok {
		return s.ValueString()
	}
	return ""
}
