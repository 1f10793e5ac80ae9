package artifactory

import (
	"fmt"
	"regexp"

	"github.com/bmatcuk/doublestar/v4"
)

// ImageFilter selects images of one repository (or of all when Repository is "").
type ImageFilter struct {
	Repository string   // key this filter applies to; "" = all repositories
	Images     []string // doublestar globs on the image name ("team/*", "**/app"); empty = all
	Exclude    []string // doublestar globs on the image name
	Tags       string   // RE2 regular expression on the tag (unanchored: write ^...$ to anchor); "" = all
}

// Validate checks the globs and the regex; an error names the field (repository, images[i],
// exclude[i], tags) and says what to fix.
func (f ImageFilter) Validate() error {
	_, err := compileFilter(f)
	return err
}

type compiledFilter struct {
	images  []string
	exclude []string
	tags    *regexp.Regexp
}

func compileFilter(f ImageFilter) (compiledFilter, error) {
	if f.Repository != "" {
		if err := ValidRepositoryKey(f.Repository); err != nil {
			return compiledFilter{}, fmt.Errorf("repository: %w", err)
		}
	}
	check := func(field string, globs []string) error {
		for i, g := range globs {
			if g == "" {
				return fmt.Errorf("%s[%d]: empty glob: remove it, or use \"**\" for every image", field, i)
			}
			if !doublestar.ValidatePattern(g) {
				return fmt.Errorf("%s[%d]: invalid glob %q: check brackets and braces ('*' matches within one path segment, '**' across)", field, i, g)
			}
		}
		return nil
	}
	if err := check("images", f.Images); err != nil {
		return compiledFilter{}, err
	}
	if err := check("exclude", f.Exclude); err != nil {
		return compiledFilter{}, err
	}
	cf := compiledFilter{images: f.Images, exclude: f.Exclude}
	if f.Tags != "" {
		re, err := regexp.Compile(f.Tags)
		if err != nil {
			return compiledFilter{}, fmt.Errorf("tags: invalid regular expression %q: %v (RE2 syntax, e.g. ^v[0-9]+)", f.Tags, err)
		}
		cf.tags = re
	}
	return cf, nil
}

func (cf compiledFilter) matchImage(image string) bool {
	if len(cf.images) > 0 {
		ok := false
		for _, g := range cf.images {
			if doublestar.MatchUnvalidated(g, image) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, g := range cf.exclude {
		if doublestar.MatchUnvalidated(g, image) {
			return false
		}
	}
	return true
}

func (cf compiledFilter) matchTag(tag string) bool { return cf.tags == nil || cf.tags.MatchString(tag) }

// FilterSet is a compiled list of ImageFilters.
type FilterSet struct {
	global []compiledFilter            // Repository == ""
	byRepo map[string][]compiledFilter // per key
	keys   []string                    // keys named by filters, in order
}

// CompileFilters validates and compiles fs. An error names the filter index and field
// (filters[1].tags: ...).
func CompileFilters(fs []ImageFilter) (*FilterSet, error) {
	s := &FilterSet{byRepo: map[string][]compiledFilter{}}
	for i, f := range fs {
		cf, err := compileFilter(f)
		if err != nil {
			return nil, fmt.Errorf("image_filters[%d].%w", i, err)
		}
		if f.Repository == "" {
			s.global = append(s.global, cf)
			continue
		}
		if _, ok := s.byRepo[f.Repository]; !ok {
			s.keys = append(s.keys, f.Repository)
		}
		s.byRepo[f.Repository] = append(s.byRepo[f.Repository], cf)
	}
	return s, nil
}

func (s *FilterSet) applicable(repository string) []compiledFilter {
	if s == nil {
		return nil
	}
	rf := s.byRepo[repository]
	if len(s.global) == 0 {
		return rf
	}
	return append(append([]compiledFilter(nil), s.global...), rf...)
}

// Match reports whether the tag passes: a repository with at least one applicable filter (its own
// or a global one) must match one of them; a repository with none takes everything. A nil set
// matches everything.
func (s *FilterSet) Match(repository, image, tag string) bool {
	fs := s.applicable(repository)
	if len(fs) == 0 {
		return true
	}
	for _, f := range fs {
		if f.matchImage(image) && f.matchTag(tag) {
			return true
		}
	}
	return false
}

// matchImage reports whether some tag of image could pass (tag filters not yet known); used to
// skip tag listings and HEAD requests.
func (s *FilterSet) matchImage(repository, image string) bool {
	fs := s.applicable(repository)
	if len(fs) == 0 {
		return true
	}
	for _, f := range fs {
		if f.matchImage(image) {
			return true
		}
	}
	return false
}

// Repositories returns the keys named by filters, in first-seen order.
func (s *FilterSet) Repositories() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.keys...)
}
