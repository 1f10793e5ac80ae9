package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/artifactory"
)

var _ function.Function = repositoryKeysFunction{}

// NewRepositoryKeysFunction is the factory of provider::imagewatch::repository_keys.
func NewRepositoryKeysFunction() function.Function { return repositoryKeysFunction{} }

type repositoryKeysFunction struct{}

func (repositoryKeysFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "repository_keys"
}

func (repositoryKeysFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "Split a list of repository keys written as one string",
		MarkdownDescription: "Splits a string of Artifactory repository keys separated by commas and/or semicolons " +
			"(the form Backline's JFrog integration takes) into a list: blanks are trimmed, empty items dropped and " +
			"duplicates removed, in order. `repository_keys(\"docker-local, docker-prod; docker-dev\")` returns " +
			"`[\"docker-local\", \"docker-prod\", \"docker-dev\"]`. Each key is checked for Artifactory's key syntax.",
		Parameters: []function.Parameter{
			function.StringParameter{
				Name:                "keys",
				MarkdownDescription: "Repository keys separated by `,` or `;`, e.g. `\"docker-local, docker-prod\"`.",
			},
		},
		Return: function.ListReturn{ElementType: types.StringType},
	}
}

func (repositoryKeysFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var input string
	resp.Error = function.ConcatFuncErrors(resp.Error, req.Arguments.Get(ctx, &input))
	if resp.Error != nil {
		return
	}
	keys := artifactory.SplitRepositoryKeys(input)
	for i, k := range keys {
		if err := artifactory.ValidRepositoryKey(k); err != nil {
			resp.Error = function.NewArgumentFuncError(0, fmt.Sprintf("item %d: %s", i+1, err))
			return
		}
	}
	resp.Error = function.ConcatFuncErrors(resp.Error, resp.Result.Set(ctx, keys))
}
