package artifactory

import (
	"strings"
	"testing"
)

func TestImageFilterValidateNamesField(t *testing.T) {
	tests := []struct {
		f    ImageFilter
		want string
	}{
		{ImageFilter{Images: []string{"ok/*", "bad["}}, "images[1]"},
		{ImageFilter{Exclude: []string{"{a,b"}}, "exclude[0]"},
		{ImageFilter{Images: []string{""}}, "images[0]: empty glob"},
		{ImageFilter{Tags: "(v1"}, "tags: invalid regular expression"},
		{ImageFilter{Tags: `^v(?=1)`}, "tags"}, // lookahead is not RE2
		{ImageFilter{Repository: "bad key"}, "repository:"},
	}
	for _, tt := range tests {
		err := tt.f.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tt.f, err, tt.want)
		}
	}
	if err := (ImageFilter{Repository: "dev", Images: []string{"internal/**"}, Exclude: []string{"internal/tmp-*"}, Tags: "^v[0-9]"}).Validate(); err != nil {
		t.Errorf("valid filter rejected: %v", err)
	}
}

func TestFilterSetMatch(t *testing.T) {
	fs, err := CompileFilters([]ImageFilter{
		{Repository: "dev-local", Images: []string{"internal/*"}, Exclude: []string{"internal/tmp-*"}, Tags: "^v[0-9]"},
		{Repository: "dev-local", Images: []string{"tools/**"}},
		{Repository: "prod", Tags: `^\d+\.\d+\.\d+$`},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		repo, image, tag string
		want             bool
	}{
		{"dev-local", "internal/api", "v1.2", true},
		{"dev-local", "internal/api", "latest", false}, // tag regex
		{"dev-local", "internal/tmp-x", "v1", false},   // excluded
		{"dev-local", "internal/sub/api", "v1", false}, // '*' stays in one segment
		{"dev-local", "tools/a/b/c", "anything", true}, // second filter, '**' crosses segments
		{"dev-local", "other", "v1", false},            // repository has filters: must match one
		{"prod", "any/image", "1.2.3", true},           // no image globs = all images
		{"prod", "any/image", "1.2.3-rc1", false},
		{"unfiltered", "whatever", "latest", true}, // no filter for this repository
	}
	for _, tt := range tests {
		if got := fs.Match(tt.repo, tt.image, tt.tag); got != tt.want {
			t.Errorf("Match(%q,%q,%q) = %v, want %v", tt.repo, tt.image, tt.tag, got, tt.want)
		}
	}
	if got := strings.Join(fs.Repositories(), ","); got != "dev-local,prod" {
		t.Errorf("Repositories() = %s", got)
	}
	var nilSet *FilterSet
	if !nilSet.Match("a", "b", "c") {
		t.Error("nil set must match everything")
	}
	global, _ := CompileFilters([]ImageFilter{{Images: []string{"team/*"}}})
	if global.Match("any", "other/app", "1") || !global.Match("any", "team/app", "1") {
		t.Error("a global filter applies to every repository")
	}
	if _, err := CompileFilters([]ImageFilter{{}, {Tags: "["}}); err == nil || !strings.Contains(err.Error(), "image_filters[1].tags") {
		t.Errorf("CompileFilters error should name the filter: %v", err)
	}
}
