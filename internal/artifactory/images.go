package artifactory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// Listing methods for ListImagesOptions.Method.
const (
	MethodAuto    = ""
	MethodAQL     = "aql"
	MethodCatalog = "catalog"
)

// listConcurrency bounds parallel requests of one listing (repository lookups, tags, HEADs).
const listConcurrency = 8

// ListImages lists every tag of the given Docker repositories that passes opts.Filters, sorted by
// repository, name and tag.
//
// AQL first: one paged query over all local, federated and remote-cache repositories. When AQL is
// refused (401/403 for AQL only, 400 on editions without it, 404/405) it falls back to the Docker
// API: _catalog, tags/list and a HEAD per tag for the digest. Virtual repositories are always
// listed through the Docker API, which resolves their members. Filters are applied before any
// tags/HEAD request. Errors name the repository.
func (c *Client) ListImages(ctx context.Context, repositoryKeys []string, opts ListImagesOptions) ([]Image, error) {
	keys := dedupe(append([]string(nil), repositoryKeys...))
	if len(keys) == 0 {
		return nil, errors.New("list images: no repository keys given")
	}
	for _, k := range keys {
		if err := ValidRepositoryKey(k); err != nil {
			return nil, err
		}
	}
	filters, err := CompileFilters(opts.Filters)
	if err != nil {
		return nil, err
	}
	switch opts.Method {
	case MethodAuto, MethodAQL, MethodCatalog:
	default:
		return nil, fmt.Errorf("list images: method %q is not one of \"aql\", \"catalog\" or empty", opts.Method)
	}

	var images []Image
	catalogKeys := keys
	if opts.Method != MethodCatalog {
		aqlRepos, viaCatalog, err := c.aqlRepositories(ctx, keys)
		if err != nil {
			return nil, err
		}
		found, err := c.listViaAQL(ctx, aqlRepos, filters)
		switch {
		case err == nil:
			images = found
			catalogKeys = viaCatalog
		case opts.Method == MethodAuto && aqlRefused(err):
			c.logger.Info("AQL refused; listing through the Docker API", "error", err)
		default:
			return nil, fmt.Errorf("list images in %s with AQL: %w", quoteKeys(keys), err)
		}
	}
	for _, key := range catalogKeys {
		found, err := c.listViaCatalog(ctx, key, filters)
		if err != nil {
			return nil, fmt.Errorf("repository %q: %w", key, err)
		}
		images = append(images, found...)
	}
	sort.Slice(images, func(i, j int) bool {
		a, b := images[i], images[j]
		if a.Repository != b.Repository {
			return a.Repository < b.Repository
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Tag < b.Tag
	})
	return images, nil
}

// aqlRefused tells whether an AQL error means "use the Docker API instead".
func aqlRefused(err error) bool {
	switch StatusCode(err) {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
		return true
	}
	return false
}

// aqlRepositories maps keys to the repositories AQL must search (remote -> "<key>-cache") and
// returns the keys that must go through the catalog instead (virtual). A key whose configuration
// cannot be read for lack of permission is searched as is.
func (c *Client) aqlRepositories(ctx context.Context, keys []string) (map[string]string, []string, error) {
	repos := make([]Repository, len(keys))
	errs := make([]error, len(keys))
	forEach(len(keys), func(i int) { repos[i], errs[i] = c.Repository(ctx, keys[i]) })

	aqlRepos := map[string]string{} // AQL repo -> configured key
	var viaCatalog []string
	for i, key := range keys {
		if err := errs[i]; err != nil {
			switch {
			case IsNotFound(err):
				return nil, nil, fmt.Errorf("repository %q: not found on %s: check the key (keys are case-sensitive): %w", key, c.endpoints.REST, err)
			case IsForbidden(err) || IsUnauthorized(err):
				aqlRepos[key] = key
				continue
			default:
				return nil, nil, fmt.Errorf("repository %q: %w", key, err)
			}
		}
		switch repos[i].Class {
		case ClassRemote:
			aqlRepos[key+"-cache"] = key
		case ClassVirtual:
			viaCatalog = append(viaCatalog, key)
		default:
			aqlRepos[key] = key
		}
	}
	return aqlRepos, viaCatalog, nil
}

func (c *Client) listViaAQL(ctx context.Context, aqlRepos map[string]string, filters *FilterSet) ([]Image, error) {
	if len(aqlRepos) == 0 {
		return nil, nil
	}
	repos := make([]string, 0, len(aqlRepos))
	for r := range aqlRepos {
		repos = append(repos, r)
	}
	sort.Strings(repos)
	rename := func(img *Image) {
		if key := aqlRepos[img.Repository]; key != img.Repository {
			img.Repository = key
			img.Reference = ImageReference(c.endpoints.RegistryHost, key, img.Name, img.Tag)
		}
	}
	imgs, err := c.findManifests(ctx, ManifestQuery{Repositories: repos}, func(img Image) bool {
		rename(&img)
		return filters.Match(img.Repository, img.Name, img.Tag)
	})
	if err != nil {
		return nil, err
	}
	for i := range imgs {
		rename(&imgs[i])
	}
	return imgs, nil
}

// listViaCatalog lists one repository with _catalog, tags/list and HEAD, filtering before the
// tags and HEAD requests.
func (c *Client) listViaCatalog(ctx context.Context, key string, filters *FilterSet) ([]Image, error) {
	names, err := c.Catalog(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var wanted []string
	for _, n := range names {
		if filters.matchImage(key, n) {
			wanted = append(wanted, n)
		}
	}
	tags := make([][]string, len(wanted))
	errs := make([]error, len(wanted))
	forEach(len(wanted), func(i int) {
		tags[i], errs[i] = c.Tags(ctx, key, wanted[i])
		if IsNotFound(errs[i]) { // an image whose last tag was deleted
			tags[i], errs[i] = nil, nil
		}
	})
	var imgs []Image
	for i, name := range wanted {
		if errs[i] != nil {
			return nil, fmt.Errorf("list tags of %q: %w", name, errs[i])
		}
		for _, t := range tags[i] {
			if filters.Match(key, name, t) {
				imgs = append(imgs, Image{Repository: key, Name: name, Tag: t,
					Reference: ImageReference(c.endpoints.RegistryHost, key, name, t)})
			}
		}
	}
	errs = make([]error, len(imgs))
	forEach(len(imgs), func(i int) {
		imgs[i].Digest, imgs[i].MediaType, errs[i] = c.ManifestDigest(ctx, key, imgs[i].Name, imgs[i].Tag)
	})
	out := imgs[:0]
	for i, img := range imgs {
		switch {
		case errs[i] == nil:
			out = append(out, img)
		case IsNotFound(errs[i]): // tag deleted between listing and HEAD
		default:
			return nil, fmt.Errorf("resolve %s:%s: %w", img.Name, img.Tag, errs[i])
		}
	}
	return out, nil
}

// forEach runs fn(0..n-1) with at most listConcurrency at a time.
func forEach(n int, fn func(i int)) {
	sem := make(chan struct{}, listConcurrency)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}(i)
	}
	wg.Wait()
}

func quoteKeys(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = fmt.Sprintf("%q", k)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
