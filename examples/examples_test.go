package examples

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/imagewatch/terraform-provider-imagewatch/internal/tftest"
)

const (
	providerSource    = tftest.ProviderSource
	providerLocalName = tftest.ProviderLocalName
)

// requiredProvidersTF is added to examples that only show a resource, data source or function
// (as the docs do), so Terraform resolves the provider through dev_overrides, not the registry.
const requiredProvidersTF = `terraform {
  required_providers {
    imagewatch = {
      source = "` + providerSource + `"
    }
  }
}
`

// TestExamplesValidate runs `terraform validate` on every example folder with the provider built
// from this tree. A dev_overrides CLI config makes `terraform init` unnecessary, so nothing is
// fetched from a registry. validate does not check provider blocks, so their arguments are checked
// against the provider's schema as reported by `terraform providers schema -json`.
func TestExamplesValidate(t *testing.T) {
	tf := tftest.Terraform(t)
	env := tftest.DevOverridesEnv(t, tftest.BuildProvider(t))

	dirs := exampleDirs(t)
	// The layout docs/ is generated from; a folder missing here is a page missing there.
	for _, want := range []string{
		"provider",
		"resources/imagewatch_artifactory_integration",
		"resources/imagewatch_engine_config",
		"data-sources/imagewatch_artifactory_images",
		"data-sources/imagewatch_engine_images",
		"functions/repository_keys",
		"functions/image_ref",
		"quickstart",
	} {
		if !slices.Contains(dirs, want) {
			t.Errorf("examples/%s: missing (found %v)", want, dirs)
		}
	}

	providerArgs := providerArguments(t, tf, env)

	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			work := stageExample(t, dir)
			validate(t, tf, env, work)
			checkProviderBlocks(t, work, providerArgs)
		})
	}
}

// TestMain removes the provider binary built once for all tests.
func TestMain(m *testing.M) {
	code := m.Run()
	tftest.Cleanup()
	os.Exit(code)
}

// exampleDirs lists, relative to examples/, every folder holding .tf files.
func exampleDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != "." {
			return fs.SkipDir // .terraform/ of a local run
		}
		if !d.IsDir() && filepath.Ext(path) == ".tf" {
			dir := filepath.ToSlash(filepath.Dir(path))
			if !slices.Contains(dirs, dir) {
				dirs = append(dirs, dir)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// stageExample copies an example's .tf files into a temporary directory, so validation never
// writes into the source tree, and declares the provider's source when the example does not.
func stageExample(t *testing.T, dir string) string {
	t.Helper()
	work := t.TempDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	declared := false
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		declared = declared || declaresProvider(t, f, src)
		if err := os.WriteFile(filepath.Join(work, filepath.Base(f)), src, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if !declared {
		if err := os.WriteFile(filepath.Join(work, "zz_required_providers.tf"), []byte(requiredProvidersTF), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return work
}

// declaresProvider reports whether a file has terraform { required_providers { imagewatch = ... } }.
func declaresProvider(t *testing.T, name string, src []byte) bool {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCL(src, name)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", name, diags.Error())
	}
	content, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "terraform"}}})
	for _, tfBlock := range content.Blocks {
		inner, _, _ := tfBlock.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "required_providers"}}})
		for _, rp := range inner.Blocks {
			attrs, _ := rp.Body.JustAttributes()
			if _, ok := attrs[providerLocalName]; ok {
				return true
			}
		}
	}
	return false
}

type validateOutput struct {
	Valid       bool `json:"valid"`
	Diagnostics []struct {
		Severity string `json:"severity"`
		Summary  string `json:"summary"`
		Detail   string `json:"detail"`
		Range    *struct {
			Filename string `json:"filename"`
			Start    struct {
				Line int `json:"line"`
			} `json:"start"`
		} `json:"range"`
	} `json:"diagnostics"`
}

func validate(t *testing.T, tf string, env []string, work string) {
	t.Helper()
	stdout, stderr, err := tftest.Run(t, tf, env, work, "validate", "-json", "-no-color")
	var out validateOutput
	if jerr := json.Unmarshal(stdout, &out); jerr != nil {
		t.Fatalf("terraform validate: %v (exit: %v)\nstdout: %s\nstderr: %s", jerr, err, stdout, stderr)
	}
	for _, d := range out.Diagnostics {
		if d.Severity == "warning" && strings.Contains(d.Summary, "development overrides") {
			continue // expected: that is how this test serves the provider
		}
		where := ""
		if d.Range != nil {
			where = fmt.Sprintf("%s:%d: ", d.Range.Filename, d.Range.Start.Line)
		}
		t.Errorf("%s%s: %s: %s", where, d.Severity, d.Summary, d.Detail)
	}
	if !out.Valid || err != nil {
		t.Errorf("terraform validate failed (exit: %v)\nstderr: %s", err, stderr)
	}
}

// providerArguments returns the provider block's argument names from the built provider's schema.
func providerArguments(t *testing.T, tf string, env []string) map[string]bool {
	t.Helper()
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(requiredProvidersTF), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := tftest.Run(t, tf, env, work, "providers", "schema", "-json")
	if err != nil {
		t.Fatalf("terraform providers schema: %v\n%s", err, stderr)
	}
	var schemas struct {
		ProviderSchemas map[string]struct {
			Provider struct {
				Block struct {
					Attributes map[string]json.RawMessage `json:"attributes"`
					BlockTypes map[string]json.RawMessage `json:"block_types"`
				} `json:"block"`
			} `json:"provider"`
		} `json:"provider_schemas"`
	}
	if err := json.Unmarshal(stdout, &schemas); err != nil {
		t.Fatalf("terraform providers schema: %v", err)
	}
	ps, ok := schemas.ProviderSchemas["registry.terraform.io/"+providerSource]
	if !ok {
		t.Fatalf("provider schema for %s not in terraform's output", providerSource)
	}
	args := map[string]bool{}
	for name := range ps.Provider.Block.Attributes {
		args[name] = true
	}
	for name := range ps.Provider.Block.BlockTypes {
		args[name] = true
	}
	if len(args) == 0 {
		t.Fatal("the provider schema has no arguments")
	}
	return args
}

// checkProviderBlocks fails on a provider "imagewatch" block argument the schema does not have.
func checkProviderBlocks(t *testing.T, work string, args map[string]bool) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(work, "*.tf"))
	parser := hclparse.NewParser()
	for _, name := range files {
		f, diags := parser.ParseHCLFile(name)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", name, diags.Error())
		}
		content, _, _ := f.Body.PartialContent(&hcl.BodySchema{
			Blocks: []hcl.BlockHeaderSchema{{Type: "provider", LabelNames: []string{"name"}}},
		})
		for _, block := range content.Blocks {
			if block.Labels[0] != providerLocalName {
				continue
			}
			attrs, diags := block.Body.JustAttributes()
			if diags.HasErrors() {
				t.Errorf("%s: provider block: %s", filepath.Base(name), diags.Error())
			}
			for attrName, attr := range attrs {
				if !args[attrName] {
					t.Errorf("%s:%d: provider %q has no argument %q", filepath.Base(name), attr.Range.Start.Line, providerLocalName, attrName)
				}
			}
		}
	}
}

// documentedResult matches an output whose value line is followed by a comment holding the
// JSON of its result, as the function examples show it.
var documentedResult = regexp.MustCompile(`(?m)^output "([^"]+)" \{\n\s*value\s*=.*\n\s*# (.+)$`)

// TestFunctionExamplesResults applies each function example (outputs only: no server involved)
// and checks every result the example states in its comment, so the docs cannot promise a value
// the function does not return.
func TestFunctionExamplesResults(t *testing.T) {
	tf := tftest.Terraform(t)
	env := tftest.DevOverridesEnv(t, tftest.BuildProvider(t))
	dirs, _ := filepath.Glob(filepath.Join("functions", "*"))
	if len(dirs) == 0 {
		t.Fatal("no function examples under examples/functions")
	}
	for _, dir := range dirs {
		t.Run(filepath.ToSlash(dir), func(t *testing.T) {
			t.Parallel()
			want := map[string]string{}
			files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range documentedResult.FindAllStringSubmatch(string(src), -1) {
					want[m[1]] = m[2]
				}
			}
			if len(want) == 0 {
				t.Fatalf("%s: no output documents its result (a `# <json>` comment under `value = ...`)", dir)
			}
			work := stageExample(t, dir)
			if _, stderr, err := tftest.Run(t, tf, env, work, "apply", "-auto-approve", "-input=false", "-no-color"); err != nil {
				t.Fatalf("terraform apply: %v\n%s", err, stderr)
			}
			stdout, stderr, err := tftest.Run(t, tf, env, work, "output", "-json")
			if err != nil {
				t.Fatalf("terraform output: %v\n%s", err, stderr)
			}
			var outputs map[string]struct {
				Value json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal(stdout, &outputs); err != nil {
				t.Fatal(err)
			}
			for name, doc := range want {
				var documented, actual any
				if err := json.Unmarshal([]byte(doc), &documented); err != nil {
					t.Errorf("output %q: documented result %s is not JSON: %v", name, doc, err)
					continue
				}
				out, ok := outputs[name]
				if !ok {
					t.Errorf("output %q: missing after apply", name)
					continue
				}
				if err := json.Unmarshal(out.Value, &actual); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(documented, actual) {
					t.Errorf("output %q: example documents %s, function returns %s", name, doc, out.Value)
				}
			}
		})
	}
}
