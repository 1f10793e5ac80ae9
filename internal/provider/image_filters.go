package provider

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

// The repository_keys and image_filters arguments are shared by imagewatch_artifactory_integration and
// imagewatch_artifactory_images: descriptions, validators, model and conversion live here once. Only the
// schema structs differ, because the framework has one schema package per kind.

const (
	repositoryKeysDescription = "Keys of the Docker repositories to use, e.g. `[\"docker-local\", \"docker-remote\"]`. " +
		"At least one. The key is the repository's name in Artifactory (Administration → Repositories, or the first path " +
		"segment after the host in `docker pull acme.jfrog.io/<key>/<image>`). Local, remote, virtual and federated " +
		"Docker (or OCI) repositories are accepted. To split a Backline-style `\"a, b; c\"` string use " +
		"`provider::imagewatch::repository_keys`."
	imageFiltersDescription = "Which images to consider, per repository. A repository named by at least one filter " +
		"keeps an image when the image matches one of its filters; a repository named by none keeps every image. " +
		"A filter without `repository` applies to every repository."
	filterRepositoryDescription = "Repository key this filter applies to; it must be one of `repository_keys`. " +
		"Omit it to apply the filter to every repository."
	filterImagesDescription = "Globs on the image name inside the repository (`*` within one path segment, `**` " +
		"across segments, `?`, `[...]`, `{a,b}`), e.g. `[\"team/*\", \"**/api\"]`. An image must match one of them. " +
		"Empty or omitted: every image."
	filterExcludeDescription = "Globs on the image name (same syntax as `images`); a matching image is left out " +
		"even when `images` matches it."
	filterTagsDescription = "RE2 regular expression the tag must match, e.g. `^v[0-9]+\\.` (unanchored unless you " +
		"write `^`/`$`). Omitted: every tag."
)

// imageFilterModel is one element of image_filters.
type imageFilterModel struct {
	Repository types.String `tfsdk:"repository"`
	Images     types.List   `tfsdk:"images"`
	Exclude    types.List   `tfsdk:"exclude"`
	Tags       types.String `tfsdk:"tags"`
}

// imageFilterAttrTypes is the object type of one image_filters element.
var imageFilterAttrTypes = map[string]attr.Type{
	"repository": types.StringType,
	"images":     types.ListType{ElemType: types.StringType},
	"exclude":    types.ListType{ElemType: types.StringType},
	"tags":       types.StringType,
}

func repositoryKeysValidators() []validator.Set {
	return []validator.Set{
		setvalidator.SizeAtLeast(1),
		setvalidator.ValueStringsAre(repositoryKeyValidator()),
	}
}

func filterRepositoryValidators() []validator.String {
	return []validator.String{repositoryKeyValidator()}
}

func filterGlobsValidators() []validator.List {
	return []validator.List{listvalidator.ValueStringsAre(globValidator())}
}

func filterTagsValidators() []validator.String { return []validator.String{regexValidator()} }

func resourceImageFiltersAttribute() rschema.ListNestedAttribute {
	return rschema.ListNestedAttribute{
		MarkdownDescription: imageFiltersDescription,
		Optional:            true,
		NestedObject: rschema.NestedAttributeObject{
			Attributes: map[string]rschema.Attribute{
				"repository": rschema.StringAttribute{
					MarkdownDescription: filterRepositoryDescription,
					Optional:            true,
					Validators:          filterRepositoryValidators(),
				},
				"images": rschema.ListAttribute{
					MarkdownDescription: filterImagesDescription,
					ElementType:         types.StringType,
					Optional:            true,
					Validators:          filterGlobsValidators(),
				},
				"exclude": rschema.ListAttribute{
					MarkdownDescription: filterExcludeDescription,
					ElementType:         types.StringType,
					Optional:            true,
					Validators:          filterGlobsValidators(),
				},
				"tags": rschema.StringAttribute{
					MarkdownDescription: filterTagsDescription,
					Optional:            true,
					Validators:          filterTagsValidators(),
				},
			},
		},
	}
}

func dataSourceImageFiltersAttribute() dsschema.ListNestedAttribute {
	return dsschema.ListNestedAttribute{
		MarkdownDescription: imageFiltersDescription,
		Optional:            true,
		NestedObject: dsschema.NestedAttributeObject{
			Attributes: map[string]dsschema.Attribute{
				"repository": dsschema.StringAttribute{
					MarkdownDescription: filterRepositoryDescription,
					Optional:            true,
					Validators:          filterRepositoryValidators(),
				},
				"images": dsschema.ListAttribute{
					MarkdownDescription: filterImagesDescription,
					ElementType:         types.StringType,
					Optional:            true,
					Validators:          filterGlobsValidators(),
				},
				"exclude": dsschema.ListAttribute{
					MarkdownDescription: filterExcludeDescription,
					ElementType:         types.StringType,
					Optional:            true,
					Validators:          filterGlobsValidators(),
				},
				"tags": dsschema.StringAttribute{
					MarkdownDescription: filterTagsDescription,
					Optional:            true,
					Validators:          filterTagsValidators(),
				},
			},
		},
	}
}

// repositoryKeysFromSet returns the keys of a known set, sorted so diagnostics and the repositories
// attribute are stable. ok is false when the set or one of its elements is unknown.
func repositoryKeysFromSet(ctx context.Context, set types.Set) (keys []string, ok bool, diags diag.Diagnostics) {
	if set.IsUnknown() {
		return nil, false, nil
	}
	if set.IsNull() {
		return nil, true, nil
	}
	for _, e := range set.Elements() {
		if e.IsUnknown() {
			return nil, false, nil
		}
	}
	var vals []types.String
	diags = set.ElementsAs(ctx, &vals, false)
	for _, v := range vals {
		if !v.IsNull() {
			keys = append(keys, v.ValueString())
		}
	}
	slices.Sort(keys)
	return keys, true, diags
}

// imageFiltersFromList converts image_filters into the client's filters. The attribute validators have
// already checked every glob and regex; CompileFilters is the last line of defence.
func imageFiltersFromList(ctx context.Context, list types.List) ([]artifactory.ImageFilter, diag.Diagnostics) {
	var diags diag.Diagnostics
	if list.IsNull() || list.IsUnknown() {
		return nil, diags
	}
	var models []imageFilterModel
	diags.Append(list.ElementsAs(ctx, &models, false)...)
	if diags.HasError() {
		return nil, diags
	}
	filters := make([]artifactory.ImageFilter, 0, len(models))
	for _, m := range models {
		f := artifactory.ImageFilter{Repository: m.Repository.ValueString(), Tags: m.Tags.ValueString()}
		if !m.Images.IsNull() {
			diags.Append(m.Images.ElementsAs(ctx, &f.Images, false)...)
		}
		if !m.Exclude.IsNull() {
			diags.Append(m.Exclude.ElementsAs(ctx, &f.Exclude, false)...)
		}
		filters = append(filters, f)
	}
	if _, err := artifactory.CompileFilters(filters); err != nil {
		diags.AddAttributeError(path.Root("image_filters"), "Invalid image filter", err.Error())
	}
	return filters, diags
}

// filterRepositoriesValidator checks that every image_filters[*].repository is one of repository_keys:
// a filter on a repository that is not listed would silently select nothing.
type filterRepositoriesValidator struct{}

var (
	_ resource.ConfigValidator   = filterRepositoriesValidator{}
	_ datasource.ConfigValidator = filterRepositoriesValidator{}
)

func (filterRepositoriesValidator) Description(context.Context) string {
	return "every image_filters[*].repository must be one of repository_keys"
}

func (v filterRepositoriesValidator) MarkdownDescription(ctx context.Context) string {
	return "every `image_filters[*].repository` must be one of `repository_keys`"
}

func (v filterRepositoriesValidator) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	resp.Diagnostics.Append(v.validate(ctx, req.Config)...)
}

func (v filterRepositoriesValidator) ValidateDataSource(ctx context.Context, req datasource.ValidateConfigRequest, resp *datasource.ValidateConfigResponse) {
	resp.Diagnostics.Append(v.validate(ctx, req.Config)...)
}

func (filterRepositoriesValidator) validate(ctx context.Context, cfg tfsdk.Config) diag.Diagnostics {
	var keysSet types.Set
	var filters types.List
	diags := cfg.GetAttribute(ctx, path.Root("repository_keys"), &keysSet)
	diags.Append(cfg.GetAttribute(ctx, path.Root("image_filters"), &filters)...)
	if diags.HasError() {
		return diags
	}
	keys, ok, d := repositoryKeysFromSet(ctx, keysSet)
	diags.Append(d...)
	if !ok || keysSet.IsNull() || filters.IsNull() || filters.IsUnknown() {
		return diags
	}
	for i, e := range filters.Elements() {
		obj, isObj := e.(types.Object)
		if !isObj || obj.IsNull() || obj.IsUnknown() {
			continue
		}
		repo, isStr := obj.Attributes()["repository"].(types.String)
		if !isStr || repo.IsNull() || repo.IsUnknown() {
			continue
		}
		if !slices.Contains(keys, repo.ValueString()) {
			diags.AddAttributeError(path.Root("image_filters").AtListIndex(i).AtName("repository"),
				"Image filter names an unlisted repository",
				fmt.Sprintf("image_filters[%d].repository is %q, which is not in repository_keys %v. "+
					"Add it to repository_keys, or correct the key.", i, repo.ValueString(), keys))
		}
	}
	return diags
}
