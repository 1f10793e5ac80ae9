package provider

import (
	"github.com/imagewatch/terraform-provider-imagewatch/internal/engine/api"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var (
	_ datasource.DataSource              = (*engineImagesDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*engineImagesDataSource)(nil)
)

// Inventory API of the engine (internal/engine/server): GET <engine_url>/api/v1/images.
const (
	inventoryPath     = "/api/v1/images"
	inventoryPageSize = 1000     // the server's maximum limit
	maxInventoryPage  = 64 << 20 // bytes of one page; far above 1000 rows
	maxInventoryRows  = 1 << 20  // stops a server whose next_offset never ends
)

// inventoryStatuses are the values the inventory filters on.
var inventoryStatuses = []string{"pending", "running", "done", "skipped", "failed"}

// NewEngineImagesDataSource is the factory of imagewatch_engine_images.
func NewEngineImagesDataSource() datasource.DataSource { return &engineImagesDataSource{} }

type engineImagesDataSource struct {
	data *providerData
}

type engineImagesModel struct {
	EngineURL   types.String `tfsdk:"engine_url"`
	Token       types.String `tfsdk:"token"`
	Integration types.String `tfsdk:"integration"`
	Repository  types.String `tfsdk:"repository"`
	Image       types.String `tfsdk:"image"`
	Tag         types.String `tfsdk:"tag"`
	Status      types.String `tfsdk:"status"`
	Images      types.List   `tfsdk:"images"`
}

var enginePlatformAttrTypes = map[string]attr.Type{
	"platform":      types.StringType,
	"digest":        types.StringType,
	"status":        types.StringType,
	"package_count": types.Int64Type,
	"sboms":         types.MapType{ElemType: types.StringType},
}

var engineImageAttrTypes = map[string]attr.Type{
	"integration":    types.StringType,
	"repository":     types.StringType,
	"image":          types.StringType,
	"tag":            types.StringType,
	"digest":         types.StringType,
	"media_type":     types.StringType,
	"reference":      types.StringType,
	"status":         types.StringType,
	"failure_reason": types.StringType,
	"skip_reason":    types.StringType,
	"package_count":  types.Int64Type,
	"analyzed_at":    types.StringType,
	"platforms":      types.ListType{ElemType: types.ObjectType{AttrTypes: enginePlatformAttrTypes}},
	"sboms":          types.MapType{ElemType: types.StringType},
}

func (d *engineImagesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_engine_images"
}

func (d *engineImagesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computedString := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	sbomsAttr := schema.MapAttribute{
		MarkdownDescription: "Where the SBOMs are: format (e.g. `cyclonedx-json`) to path or URL. Empty until analysed.",
		ElementType:         types.StringType,
		Computed:            true,
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "What the imagewatch engine has discovered and analysed, read from its inventory API " +
			"(`GET <engine_url>/api/v1/images`, served on the engine's `listen` address): one row per tag with its " +
			"digest, analysis status, package count and where its SBOMs are.",
		Attributes: map[string]schema.Attribute{
			"engine_url": schema.StringAttribute{
				MarkdownDescription: "Base URL of the engine's server, e.g. `http://127.0.0.1:9090`. Defaults to the " +
					"provider's `engine_url` (or `" + EnvEngineURL + "`).",
				Optional:   true,
				Validators: []validator.String{engineURLValidator()},
			},
			"token": schema.StringAttribute{
				MarkdownDescription: "Bearer token of the inventory API (the engine's `api_token`). Defaults to the " +
					"provider's `engine_token` (or `" + EnvEngineToken + "`).",
				Optional:  true,
				Sensitive: true,
			},
			"integration": schema.StringAttribute{
				MarkdownDescription: "Only the images of this integration (its `name`).",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"repository": schema.StringAttribute{
				MarkdownDescription: "Only the images of this repository key.",
				Optional:            true,
				Validators:          []validator.String{repositoryKeyValidator()},
			},
			"image": schema.StringAttribute{
				MarkdownDescription: "Only this image name, e.g. `team/api`.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"tag": schema.StringAttribute{
				MarkdownDescription: "Only this tag.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"status": schema.StringAttribute{
				MarkdownDescription: "Only images whose analysis has this status: `" + strings.Join(inventoryStatuses, "`, `") + "`.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.OneOf(inventoryStatuses...)},
			},
			"images": schema.ListNestedAttribute{
				MarkdownDescription: "One element per tag, sorted by integration, repository, image and tag.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"integration": computedString("Integration that discovered the tag."),
						"repository":  computedString("Repository key."),
						"image":       computedString("Image name inside the repository."),
						"tag":         computedString("Tag."),
						"digest":      computedString("Digest of the manifest or index the tag points at."),
						"media_type":  computedString("Media type of that manifest or index."),
						"reference":   computedString("Pullable reference."),
						"status": computedString("`discovered` (no analysis yet), `pending`, `running`, `done`, " +
							"`skipped` (not a container image) or `failed`."),
						"failure_reason": computedString("Last analysis error (failed, or pending a retry); empty otherwise."),
						"skip_reason":    computedString("Why the artifact is not analysed as a container image; empty otherwise."),
						"package_count": schema.Int64Attribute{
							MarkdownDescription: "Packages found; for a multi-platform image, the sum over its platforms.",
							Computed:            true,
						},
						"analyzed_at": computedString("When the analysis finished (RFC 3339); null before."),
						"platforms": schema.ListNestedAttribute{
							MarkdownDescription: "The platform manifests (one for a single-platform image).",
							Computed:            true,
							NestedObject: schema.NestedAttributeObject{
								Attributes: map[string]schema.Attribute{
									"platform": computedString("`os/architecture[/variant]`."),
									"digest":   computedString("Digest of the platform manifest."),
									"status":   computedString("Analysis status of the platform manifest."),
									"package_count": schema.Int64Attribute{
										MarkdownDescription: "Packages found in the platform manifest.",
										Computed:            true,
									},
									"sboms": sbomsAttr,
								},
							},
						},
						"sboms": sbomsAttr,
					},
				},
			},
		},
	}
}

func (d *engineImagesDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	data, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Unexpected provider data", err.Error())
		return
	}
	d.data = data
}

func (d *engineImagesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg engineImagesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if d.data == nil {
		resp.Diagnostics.AddError("Provider not configured", "The imagewatch provider was not configured; this is a bug, please report it.")
		return
	}
	base, token := cfg.EngineURL, cfg.Token
	if base.IsNull() {
		base = d.data.EngineURL
	}
	if token.IsNull() {
		token = d.data.EngineToken
	}
	switch {
	case base.IsNull():
		resp.Diagnostics.AddAttributeError(path.Root("engine_url"), "Missing engine URL",
			"No engine URL is set: set engine_url here, engine_url in the provider block, or the "+EnvEngineURL+
				" environment variable, to the engine's listen address, e.g. http://127.0.0.1:9090.")
		return
	case base.IsUnknown() || token.IsUnknown():
		resp.Diagnostics.AddError("Engine connection not known yet",
			"The provider's engine_url or engine_token will be known only after apply, so the inventory cannot be read now. "+
				"Set engine_url and token on this data source, or configure the provider from values known at plan.")
		return
	}

	client := &http.Client{Timeout: d.data.RequestTimeout}
	defer client.CloseIdleConnections()
	query := url.Values{}
	for name, v := range map[string]types.String{
		"integration": cfg.Integration, "repository": cfg.Repository, "image": cfg.Image, "tag": cfg.Tag, "status": cfg.Status,
	} {
		if !v.IsNull() {
			query.Set(name, v.ValueString())
		}
	}
	pageSize := d.data.inventoryPage
	if pageSize <= 0 {
		pageSize = inventoryPageSize
	}
	rows, diags := readInventory(ctx, client, base.ValueString(), token.ValueString(), query, pageSize, d.data.RequestTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	cfg.Images, diags = engineImagesValue(ctx, rows)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}

// readInventory reads every page of the inventory, following next_offset.
func readInventory(ctx context.Context, client *http.Client, base, token string, query url.Values, pageSize int, timeout time.Duration) ([]api.Image, diag.Diagnostics) {
	var (
		diags diag.Diagnostics
		rows  []api.Image
	)
	endpoint := strings.TrimSuffix(base, "/") + inventoryPath
	offset := 0
	for {
		query.Set("limit", strconv.Itoa(pageSize))
		query.Set("offset", strconv.Itoa(offset))
		page, d := fetchInventoryPage(ctx, client, endpoint, token, query, timeout)
		diags.Append(d...)
		if diags.HasError() {
			return nil, diags
		}
		rows = append(rows, page.Images...)
		switch {
		case page.NextOffset == nil:
			return rows, diags
		case *page.NextOffset <= offset || len(rows) > maxInventoryRows:
			diags.AddAttributeError(path.Root("engine_url"), "Unexpected answer from the engine",
				fmt.Sprintf("%s answered next_offset %d after offset %d (%d rows so far): the paging does not advance. "+
					"Check that engine_url is the imagewatch engine.", endpoint, *page.NextOffset, offset, len(rows)))
			return nil, diags
		}
		offset = *page.NextOffset
	}
}

func fetchInventoryPage(ctx context.Context, client *http.Client, endpoint, token string, query url.Values, timeout time.Duration) (api.ImagesResponse, diag.Diagnostics) {
	var (
		diags diag.Diagnostics
		page  api.ImagesResponse
	)
	engineURLPath := path.Root("engine_url")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+query.Encode(), nil)
	if err != nil {
		diags.AddAttributeError(engineURLPath, "Invalid engine URL", fmt.Sprintf("Cannot build a request to %s: %v.", endpoint, err))
		return page, diags
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL with the query
		}
		what := "Cannot connect to"
		if ue != nil && ue.Timeout() {
			what = fmt.Sprintf("No answer within %s from", timeout)
		}
		diags.AddAttributeError(engineURLPath, "Cannot reach the imagewatch engine",
			fmt.Sprintf("%s %s: %v.\n\nIs the engine running (imagewatch-engine run --config ...) with listen set to "+
				"this address? Check engine_url here, or engine_url on the provider / %s.", what, endpoint, err, EnvEngineURL))
		return page, diags
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxInventoryPage+1))
	if err != nil {
		diags.AddAttributeError(engineURLPath, "Cannot read the engine's answer",
			fmt.Sprintf("Reading the answer of %s failed: %v.", endpoint, err))
		return page, diags
	}
	if resp.StatusCode != http.StatusOK {
		diags.Append(inventoryStatusDiagnostic(endpoint, resp.StatusCode, body, token != ""))
		return page, diags
	}
	if len(body) > maxInventoryPage {
		diags.AddAttributeError(engineURLPath, "Engine answer too large",
			fmt.Sprintf("One page of %s is larger than %d MiB: check that engine_url is the imagewatch engine.", endpoint, maxInventoryPage>>20))
		return page, diags
	}
	if err := json.Unmarshal(body, &page); err != nil || page.Images == nil {
		diags.AddAttributeError(engineURLPath, "Unexpected answer from the engine",
			fmt.Sprintf("%s did not answer with the inventory JSON (%s): is engine_url the imagewatch engine's listen "+
				"address?", endpoint, describeBody(resp.Header.Get("Content-Type"), err)))
		return page, diags
	}
	return page, diags
}

// inventoryStatusDiagnostic explains a non-200 answer and says what to do.
func inventoryStatusDiagnostic(endpoint string, status int, body []byte, sentToken bool) diag.Diagnostic {
	var e api.Error
	msg := ""
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = ": " + e.Error
	}
	engineURLPath := path.Root("engine_url")
	switch {
	case status == http.StatusUnauthorized && !sentToken:
		return diag.NewAttributeErrorDiagnostic(path.Root("token"), "The engine requires a token",
			fmt.Sprintf("%s answered 401%s.\n\nSet token here, engine_token on the provider or %s to the engine's "+
				"inventory token (api_token_env / api_token_file of its configuration).", endpoint, msg, EnvEngineToken))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return diag.NewAttributeErrorDiagnostic(path.Root("token"), "The engine refused the token",
			fmt.Sprintf("%s answered %d%s.\n\nThe token (token here, engine_token on the provider or %s) must be the "+
				"engine's inventory token (api_token_env / api_token_file of its configuration).", endpoint, status, msg, EnvEngineToken))
	case status == http.StatusBadRequest:
		p := engineURLPath
		if e.Parameter != "" && e.Parameter != "limit" && e.Parameter != "offset" {
			p = path.Root(e.Parameter)
		}
		return diag.NewAttributeErrorDiagnostic(p, "The engine rejected the query",
			fmt.Sprintf("%s answered 400%s.", endpoint, msg))
	case status == http.StatusNotFound:
		return diag.NewAttributeErrorDiagnostic(engineURLPath, "No inventory API at the engine URL",
			fmt.Sprintf("%s answered 404%s. Is engine_url the imagewatch engine's listen address (not Artifactory), "+
				"and does the engine serve its inventory?", endpoint, msg))
	case status == http.StatusServiceUnavailable:
		return diag.NewAttributeErrorDiagnostic(engineURLPath, "The engine's inventory is not available yet",
			fmt.Sprintf("%s answered 503%s. Retry once the engine has started and opened its store.", endpoint, msg))
	default:
		return diag.NewAttributeErrorDiagnostic(engineURLPath, "Unexpected answer from the engine",
			fmt.Sprintf("%s answered %d%s. See the engine's log.", endpoint, status, msg))
	}
}

func describeBody(contentType string, err error) string {
	if err != nil {
		return fmt.Sprintf("content type %q: %v", contentType, err)
	}
	return fmt.Sprintf("content type %q, no images array", contentType)
}

func engineImagesValue(ctx context.Context, rows []api.Image) (types.List, diag.Diagnostics) {
	var diags diag.Diagnostics
	platformType := types.ObjectType{AttrTypes: enginePlatformAttrTypes}
	elems := make([]attr.Value, 0, len(rows))
	for _, r := range rows {
		platforms := make([]attr.Value, 0, len(r.Platforms))
		for _, p := range r.Platforms {
			sboms, d := types.MapValueFrom(ctx, types.StringType, nonNilMap(p.SBOMs))
			diags.Append(d...)
			obj, d := types.ObjectValue(enginePlatformAttrTypes, map[string]attr.Value{
				"platform":      types.StringValue(p.Platform),
				"digest":        types.StringValue(p.Digest),
				"status":        types.StringValue(p.Status),
				"package_count": types.Int64Value(int64(p.PackageCount)),
				"sboms":         sboms,
			})
			diags.Append(d...)
			platforms = append(platforms, obj)
		}
		platformList, d := types.ListValue(platformType, platforms)
		diags.Append(d...)
		sboms, d := types.MapValueFrom(ctx, types.StringType, nonNilMap(r.SBOMs))
		diags.Append(d...)
		analyzed := types.StringNull()
		if r.AnalyzedAt != nil {
			analyzed = types.StringValue(r.AnalyzedAt.UTC().Format(time.RFC3339))
		}
		obj, d := types.ObjectValue(engineImageAttrTypes, map[string]attr.Value{
			"integration":    types.StringValue(r.Integration),
			"repository":     types.StringValue(r.Repository),
			"image":          types.StringValue(r.Image),
			"tag":            types.StringValue(r.Tag),
			"digest":         types.StringValue(r.Digest),
			"media_type":     types.StringValue(r.MediaType),
			"reference":      types.StringValue(r.Reference),
			"status":         types.StringValue(r.Status),
			"failure_reason": types.StringValue(r.FailureReason),
			"skip_reason":    types.StringValue(r.SkipReason),
			"package_count":  types.Int64Value(int64(r.PackageCount)),
			"analyzed_at":    analyzed,
			"platforms":      platformList,
			"sboms":          sboms,
		})
		diags.Append(d...)
		elems = append(elems, obj)
	}
	list, d := types.ListValue(types.ObjectType{AttrTypes: engineImageAttrTypes}, elems)
	diags.Append(d...)
	return list, diags
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
