package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

var (
	_ datasource.DataSource                     = (*artifactoryImagesDataSource)(nil)
	_ datasource.DataSourceWithConfigure        = (*artifactoryImagesDataSource)(nil)
	_ datasource.DataSourceWithConfigValidators = (*artifactoryImagesDataSource)(nil)
)

// NewArtifactoryImagesDataSource is the factory of imagewatch_artifactory_images.
func NewArtifactoryImagesDataSource() datasource.DataSource { return &artifactoryImagesDataSource{} }

type artifactoryImagesDataSource struct {
	data *providerData
}

type imagesDataSourceModel struct {
	URL            types.String `tfsdk:"url"`
	Username       types.String `tfsdk:"username"`
	AccessToken    types.String `tfsdk:"access_token"`
	RepositoryKeys types.Set    `tfsdk:"repository_keys"`
	ImageFilters   types.List   `tfsdk:"image_filters"`
	Images         types.List   `tfsdk:"images"`
}

var imageAttrTypes = map[string]attr.Type{
	"repository_key": types.StringType,
	"image":          types.StringType,
	"tag":            types.StringType,
	"digest":         types.StringType,
	"media_type":     types.StringType,
	"multi_platform": types.BoolType,
	"created":        types.StringType,
	"modified":       types.StringType,
	"reference":      types.StringType,
}

func (d *artifactoryImagesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_artifactory_images"
}

func (d *artifactoryImagesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computedString := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists every tag of the images in Docker repositories, live from Artifactory, with the same " +
			"discovery as the engine (AQL, or the Docker V2 catalog and tags listing where AQL is refused) and the same " +
			"filters as `imagewatch_artifactory_integration`. The repositories are checked first: a missing, non-Docker " +
			"or unreadable repository is an error naming it.",
		Attributes: map[string]schema.Attribute{
			"url": schema.StringAttribute{
				MarkdownDescription: "JFrog Platform or Artifactory URL. Defaults to the provider's `url` (or `" + EnvURL + "`).",
				Optional:            true,
				Validators:          []validator.String{urlValidator()},
			},
			"username": schema.StringAttribute{
				MarkdownDescription: "Username for Basic authentication; leave unset for an access token. When " +
					"`access_token` is not set here, the provider's username and token are used together.",
				Optional: true,
			},
			"access_token": schema.StringAttribute{
				MarkdownDescription: "Access token, identity token, API key or password. Defaults to the provider's.",
				Optional:            true,
				Sensitive:           true,
			},
			"repository_keys": schema.SetAttribute{
				MarkdownDescription: repositoryKeysDescription,
				ElementType:         types.StringType,
				Required:            true,
				Validators:          repositoryKeysValidators(),
			},
			"image_filters": dataSourceImageFiltersAttribute(),
			"images": schema.ListNestedAttribute{
				MarkdownDescription: "One element per tag, sorted by repository key, image and tag.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"repository_key": computedString("Repository key."),
						"image":          computedString("Image name inside the repository, e.g. `team/app`."),
						"tag":            computedString("Tag."),
						"digest":         computedString("Digest (`sha256:...`) of the manifest or index the tag points at."),
						"media_type": computedString("Media type of that manifest, e.g. " +
							"`application/vnd.oci.image.index.v1+json`; null when the listing could not tell."),
						"multi_platform": schema.BoolAttribute{
							MarkdownDescription: "Whether the tag points at a manifest list / OCI index (several platforms).",
							Computed:            true,
						},
						"created":   computedString("When the tag's manifest was created in the repository (RFC 3339); null if unknown."),
						"modified":  computedString("When the tag's manifest was last modified (RFC 3339); null if unknown."),
						"reference": computedString("Pullable reference: `<registry_host>/<repository_key>/<image>:<tag>`."),
					},
				},
			},
		},
	}
}

func (d *artifactoryImagesDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return []datasource.ConfigValidator{filterRepositoriesValidator{}}
}

func (d *artifactoryImagesDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	data, err := providerDataFrom(req.ProviderData)
	if err != nil {
		resp.Diagnostics.AddError("Unexpected provider data", err.Error())
		return
	}
	d.data = data
}

func (d *artifactoryImagesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg imagesDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if d.data == nil {
		resp.Diagnostics.AddError("Provider not configured", "The imagewatch provider was not configured; this is a bug, please report it.")
		return
	}
	conn := d.data.resolve(connectionConfig{URL: cfg.URL, Username: cfg.Username, AccessToken: cfg.AccessToken, AccessTokenWO: types.StringNull()})
	if conn.URL.IsNull() {
		resp.Diagnostics.Append(missingURLDiagnostic())
		return
	}
	// Terraform defers a read whose own arguments are unknown, but not one whose provider settings are.
	if unknown := conn.unknown(); len(unknown) > 0 {
		resp.Diagnostics.AddError("Connection not known yet",
			fmt.Sprintf("The provider's %s will be known only after apply, so the images cannot be listed now. "+
				"Set url and access_token on this data source, or configure the provider from values known at plan.",
				strings.Join(unknown, " and ")))
		return
	}
	keys, _, diags := repositoryKeysFromSet(ctx, cfg.RepositoryKeys)
	resp.Diagnostics.Append(diags...)
	filters, diags := imageFiltersFromList(ctx, cfg.ImageFilters)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}

	client, diags := d.data.client(ctx, conn)
	resp.Diagnostics.Append(diags...)
	if diags.HasError() {
		return
	}
	defer client.HTTPClient().CloseIdleConnections()
	// Check first so a bad key gets its own reason rather than an empty or partial listing.
	if _, diags := d.data.checkConnection(ctx, client, keys, diag.SeverityError); diags.HasError() {
		resp.Diagnostics.Append(diags...)
		return
	}
	images, err := client.ListImages(ctx, keys, artifactory.ListImagesOptions{Filters: filters})
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("repository_keys"), "Listing images failed",
			fmt.Sprintf("Listing the images of %v at %s failed: %s.", keys, client.Endpoints().REST, err))
		return
	}
	cfg.Images, diags = imagesValue(images)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}

func imagesValue(images []artifactory.Image) (types.List, diag.Diagnostics) {
	var diags diag.Diagnostics
	elems := make([]attr.Value, 0, len(images))
	for _, img := range images {
		obj, d := types.ObjectValue(imageAttrTypes, map[string]attr.Value{
			"repository_key": types.StringValue(img.Repository),
			"image":          types.StringValue(img.Name),
			"tag":            types.StringValue(img.Tag),
			"digest":         types.StringValue(img.Digest),
			"media_type":     nullIfEmpty(img.MediaType),
			"multi_platform": types.BoolValue(img.MultiPlatform()),
			"created":        timeValue(img.Created),
			"modified":       timeValue(img.Modified),
			"reference":      types.StringValue(img.Reference),
		})
		diags.Append(d...)
		elems = append(elems, obj)
	}
	list, d := types.ListValue(types.ObjectType{AttrTypes: imageAttrTypes}, elems)
	diags.Append(d...)
	return list, diags
}

func timeValue(t time.Time) types.String {
	if t.IsZero() {
		return types.StringNull()
	}
	return types.StringValue(t.UTC().Format(time.RFC3339))
}
