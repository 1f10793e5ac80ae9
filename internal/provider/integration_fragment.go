package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// The engine file of one imagewatch_artifactory_integration: <engine_config_dir>/<name>.json, one
// object with the schema of an artifactory[] entry of the engine's configuration
// (internal/engine/config.LoadIntegration). It carries the secrets inline because the engine needs
// them and a write-only token exists nowhere else; the file is 0600 and its hash is taken with the
// secrets redacted, so state never holds anything derived from them.

// integrationFragment is the file's JSON, field order fixed so equal settings give equal bytes.
type integrationFragment struct {
	Name               string           `json:"name"`
	BaseURL            string           `json:"base_url"`
	Username           string           `json:"username,omitempty"`
	AccessToken        string           `json:"access_token,omitempty"` // without username: Bearer or legacy API key
	Password           string           `json:"password,omitempty"`     // with username: Basic
	Repositories       []string         `json:"repositories"`
	ImageFilters       []fragmentFilter `json:"image_filters,omitempty"`
	CAFile             string           `json:"ca_file,omitempty"`
	InsecureSkipVerify bool             `json:"insecure_skip_verify,omitempty"`
	WebhookSecret      string           `json:"webhook_secret,omitempty"`
}

type fragmentFilter struct {
	Repository string   `json:"repository,omitempty"`
	Images     []string `json:"images,omitempty"`
	Exclude    []string `json:"exclude,omitempty"`
	Tags       string   `json:"tags,omitempty"`
}

// redactedSecret replaces every secret when the fingerprint is computed.
const redactedSecret = "(redacted)"

// fragmentSecrets are the secrets a fragment carries.
type fragmentSecrets struct {
	Token   string // access_token or password
	Webhook string
}

func (f integrationFragment) secrets() fragmentSecrets {
	tok := f.AccessToken
	if tok == "" {
		tok = f.Password
	}
	return fragmentSecrets{Token: tok, Webhook: f.WebhookSecret}
}

func (f integrationFragment) render() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// fragmentFingerprint hashes a fragment's bytes with each secret's JSON string replaced by a
// placeholder, and returns the secrets it found. Bytes that are not a JSON object are hashed as
// they are: they hold no secret the provider can recognise, and they differ from what it writes.
func fragmentFingerprint(raw []byte) (string, fragmentSecrets) {
	var f integrationFragment
	if err := json.Unmarshal(raw, &f); err != nil {
		return sha256Hex(raw), fragmentSecrets{}
	}
	placeholder, _ := json.Marshal(redactedSecret)
	redacted := raw
	for _, s := range []string{f.AccessToken, f.Password, f.WebhookSecret} {
		if s == "" {
			continue
		}
		enc, err := json.Marshal(s)
		if err != nil {
			continue
		}
		redacted = bytes.ReplaceAll(redacted, enc, placeholder)
	}
	return sha256Hex(redacted), f.secrets()
}

// fragmentPath is where the integration named name is written in dir.
func fragmentPath(dir, name string) string { return filepath.Join(dir, name+".json") }

// buildFragment assembles the fragment from resolved, known values.
func (d *providerData) buildFragment(ctx context.Context, plan integrationModel, conn connection, webhookSecret string) (integrationFragment, diag.Diagnostics) {
	f := integrationFragment{
		Name:               plan.Name.ValueString(),
		BaseURL:            conn.URL.ValueString(),
		Username:           conn.Username.ValueString(),
		InsecureSkipVerify: d.Insecure,
		WebhookSecret:      webhookSecret,
	}
	if f.Username != "" {
		f.Password = conn.Secret.ValueString()
	} else {
		f.AccessToken = conn.Secret.ValueString()
	}
	if d.CACertFile != "" {
		// The engine resolves a relative path against the fragment's directory, not Terraform's.
		if abs, err := filepath.Abs(d.CACertFile); err == nil {
			f.CAFile = abs
		} else {
			f.CAFile = d.CACertFile
		}
	}
	keys, _, diags := repositoryKeysFromSet(ctx, plan.RepositoryKeys)
	f.Repositories = keys
	filters, fd := imageFiltersFromList(ctx, plan.ImageFilters)
	diags.Append(fd...)
	for _, flt := range filters {
		f.ImageFilters = append(f.ImageFilters, fragmentFilter{
			Repository: flt.Repository, Images: flt.Images, Exclude: flt.Exclude, Tags: flt.Tags,
		})
	}
	return f, diags
}

// planFragment fills engine_config_dir, engine_config_file and engine_config_sha256 of plan. The
// hash is unknown while a value it depends on is, and also when the file on disk carries other
// secrets than the ones planned (a rotated write-only token is seen only here, in the config), so
// the apply rewrites it.
func (d *providerData) planFragment(ctx context.Context, plan *integrationModel, config integrationModel, conn connection) diag.Diagnostics {
	var diags diag.Diagnostics
	plan.EngineConfigDir = config.EngineConfigDir
	if plan.EngineConfigDir.IsNull() {
		plan.EngineConfigDir = d.EngineDir
	}
	switch {
	case plan.EngineConfigDir.IsNull():
		plan.EngineConfigFile, plan.EngineConfigSHA256 = types.StringNull(), types.StringNull()
		return diags
	case plan.EngineConfigDir.IsUnknown() || plan.Name.IsUnknown():
		plan.EngineConfigFile, plan.EngineConfigSHA256 = types.StringUnknown(), types.StringUnknown()
		return diags
	}
	file := fragmentPath(plan.EngineConfigDir.ValueString(), plan.Name.ValueString())
	plan.EngineConfigFile = types.StringValue(file)
	plan.EngineConfigSHA256 = types.StringUnknown()
	if !allKnown(conn.URL, conn.Username, conn.Secret, plan.RepositoryKeys, plan.ImageFilters, config.WebhookSecretWO) {
		return diags
	}
	f, diags := d.buildFragment(ctx, *plan, conn, config.WebhookSecretWO.ValueString())
	if diags.HasError() {
		return diags
	}
	raw, err := f.render()
	if err != nil {
		diags.AddError("Cannot render the engine file", err.Error())
		return diags
	}
	want, _ := fragmentFingerprint(raw)
	if disk, err := readEngineFile(file); err == nil && disk.exists {
		if _, got := fragmentFingerprint(disk.data); got != f.secrets() {
			return diags // the secrets on disk are not the planned ones: rewrite at apply
		}
	}
	plan.EngineConfigSHA256 = types.StringValue(want)
	return diags
}

// writeFragment writes the engine file of plan (all values known at apply) and removes the file of
// the previous state when it moved. It fills engine_config_file and engine_config_sha256.
func (d *providerData) writeFragment(ctx context.Context, plan *integrationModel, config integrationModel, prior *integrationModel) diag.Diagnostics {
	var diags diag.Diagnostics
	oldFile := ""
	if prior != nil {
		oldFile = prior.EngineConfigFile.ValueString()
	}
	if plan.EngineConfigDir.IsNull() || plan.EngineConfigDir.ValueString() == "" {
		plan.EngineConfigFile, plan.EngineConfigSHA256 = types.StringNull(), types.StringNull()
		if oldFile != "" {
			if err := removeFile(oldFile); err != nil {
				diags.AddAttributeError(pathEngineConfigDir, "Cannot remove the previous engine file", err.Error())
			}
		}
		return diags
	}
	conn := d.resolve(config.connectionConfig())
	conn.URL = plan.URL // as recorded, the provider's when not set here
	f, diags := d.buildFragment(ctx, *plan, conn, config.WebhookSecretWO.ValueString())
	if diags.HasError() {
		return diags
	}
	raw, err := f.render()
	if err != nil {
		diags.AddError("Cannot render the engine file", err.Error())
		return diags
	}
	file := fragmentPath(plan.EngineConfigDir.ValueString(), plan.Name.ValueString())
	if err := writeFileAtomic(file, raw); err != nil {
		diags.AddAttributeError(pathEngineConfigDir, "Cannot write the engine file",
			err.Error()+". Check engine_config_dir (or the provider's) and that it is writable by the user running Terraform.")
		return diags
	}
	if oldFile != "" && oldFile != file {
		if err := removeFile(oldFile); err != nil {
			diags.AddAttributeWarning(pathEngineConfigDir, "Cannot remove the previous engine file",
				err.Error()+". Remove it by hand, or the engine keeps polling with its settings.")
		}
	}
	sum, _ := fragmentFingerprint(raw)
	plan.EngineConfigFile = types.StringValue(file)
	plan.EngineConfigSHA256 = types.StringValue(sum)
	return diags
}

// readFragment records in state what is on disk: a missing or altered file, or one readable by
// others, changes engine_config_sha256 so the next plan rewrites it. Secrets known here (a token
// in state or the provider's) are compared too; a write-only one is compared at plan time.
func (d *providerData) readFragment(state *integrationModel, expected types.String) diag.Diagnostics {
	var diags diag.Diagnostics
	if state.EngineConfigFile.IsNull() || state.EngineConfigFile.IsUnknown() {
		return diags
	}
	file := state.EngineConfigFile.ValueString()
	disk, err := readEngineFile(file)
	switch {
	case err != nil:
		diags.AddAttributeWarning(pathEngineConfigDir, "Cannot read the engine file", err.Error())
		return diags
	case !disk.exists:
		diags.AddWarning("Engine file removed outside Terraform",
			file+" no longer exists, so the engine no longer polls this integration; the next apply writes it again.")
		state.EngineConfigSHA256 = types.StringNull()
		return diags
	case disk.openToOthers():
		diags.AddWarning("Engine file readable by others",
			file+" holds credentials and is accessible by group or others (or is no longer a file); the next apply "+
				"writes it again with mode 0600.")
		state.EngineConfigSHA256 = types.StringNull()
		return diags
	}
	sum, secrets := fragmentFingerprint(disk.data)
	if !expected.IsNull() && !expected.IsUnknown() && secrets.Token != expected.ValueString() {
		sum = sha256Hex([]byte(sum + " token changed")) // not the planned hash, whatever was written
	}
	state.EngineConfigSHA256 = types.StringValue(sum)
	return diags
}
