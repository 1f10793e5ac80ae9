package artifactory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// AQLResult is one page of an AQL answer.
type AQLResult struct {
	Results []AQLItem `json:"results"`
	Range   AQLRange  `json:"range"`
}

// AQLRange is AQL's "range" object. Total is the number of rows in THIS page, not a total count.
type AQLRange struct {
	StartPos     int64  `json:"start_pos"`
	EndPos       int64  `json:"end_pos"`
	Total        int64  `json:"total"`
	Limit        int64  `json:"limit"`
	Notification string `json:"notification,omitempty"`
}

// AQLProperty is one property of an item.
type AQLProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// AQLItem is one row of items.find(). Times are zero when the field was not included.
type AQLItem struct {
	Repo       string
	Path       string // "." for items at the repository root
	Name       string
	Type       string
	Size       int64
	SHA256     string
	Created    time.Time
	Modified   time.Time
	Updated    time.Time
	Properties []AQLProperty
}

// Property returns the first value of property key.
func (i AQLItem) Property(key string) (string, bool) {
	for _, p := range i.Properties {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// UnmarshalJSON reads a row; dates are Joda ISO (2016-12-22T04:26:29.482-05:00 or ...Z).
func (i *AQLItem) UnmarshalJSON(b []byte) error {
	var raw struct {
		Repo       string        `json:"repo"`
		Path       string        `json:"path"`
		Name       string        `json:"name"`
		Type       string        `json:"type"`
		Size       json.Number   `json:"size"`
		SHA256     string        `json:"sha256"`
		Created    string        `json:"created"`
		Modified   string        `json:"modified"`
		Updated    string        `json:"updated"`
		Properties []AQLProperty `json:"properties"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*i = AQLItem{Repo: raw.Repo, Path: raw.Path, Name: raw.Name, Type: raw.Type, SHA256: strings.ToLower(raw.SHA256), Properties: raw.Properties}
	if raw.Size != "" {
		i.Size, _ = raw.Size.Int64()
	}
	var err error
	if i.Created, err = parseArtifactoryTime(raw.Created); err != nil {
		return fmt.Errorf("created: %w", err)
	}
	if i.Modified, err = parseArtifactoryTime(raw.Modified); err != nil {
		return fmt.Errorf("modified: %w", err)
	}
	if i.Updated, err = parseArtifactoryTime(raw.Updated); err != nil {
		return fmt.Errorf("updated: %w", err)
	}
	return nil
}

// parseArtifactoryTime accepts the Joda formats Artifactory writes (with or without a colon in
// the offset) and RFC 3339.
func parseArtifactoryTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}

// AQL runs one raw AQL query (POST /api/search/aql, text/plain) and returns its page.
func (c *Client) AQL(ctx context.Context, query string) (*AQLResult, error) {
	resp, err := c.do(ctx, request{
		method:      http.MethodPost,
		path:        "/api/search/aql",
		body:        []byte(query),
		contentType: "text/plain",
		accept:      "application/json",
	})
	if err != nil {
		return nil, err
	}
	var res AQLResult
	if err := json.Unmarshal(resp.body, &res); err != nil {
		return nil, fmt.Errorf("POST /api/search/aql: cannot read the answer: %w", err)
	}
	if res.Range.Notification != "" {
		c.logger.Warn("AQL notification", "notification", res.Range.Notification)
	}
	return &res, nil
}

// Paging defaults for FindManifests.
const (
	DefaultManifestPageSize = 1000
	MaxManifestPageSize     = 10000
	// maxAQLQueryLen stays under Artifactory's 6,000-character query limit.
	maxAQLQueryLen = 5500
)

// aqlTime formats t for AQL: RFC 3339 in UTC with milliseconds (Artifactory's precision).
func aqlTime(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
}

// mustJSON marshals AQL criteria (values are escaped properly).
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps/slices of strings reach here
	}
	return string(b)
}

type obj = map[string]any

// manifestCriteria selects the manifest files of the given repositories in the modified window.
func manifestCriteria(repos []string, after, before time.Time) string {
	repoOr := make([]any, 0, len(repos))
	for _, r := range repos {
		repoOr = append(repoOr, obj{"repo": r})
	}
	and := []any{
		obj{"$or": repoOr},
		obj{"$or": []any{obj{"name": ManifestFile}, obj{"name": ListManifestFile}}},
	}
	if !after.IsZero() {
		and = append(and, obj{"modified": obj{"$gt": aqlTime(after)}})
	}
	if !before.IsZero() {
		and = append(and, obj{"modified": obj{"$lt": aqlTime(before)}})
	}
	return mustJSON(obj{"$and": and})
}

// manifestPageQuery pages over primary-domain fields only: with properties included, Artifactory
// applies sort/limit to joined item×property rows, which truncates and misorders pages.
func manifestPageQuery(criteria string, offset, limit int) string {
	return fmt.Sprintf(`items.find(%s).include("repo","path","name","type","size","created","modified","updated","sha256").sort({"$asc":["modified","repo","path","name"]}).offset(%d).limit(%d)`,
		criteria, offset, limit)
}

// FindManifests lists the manifest.json and list.manifest.json items of the given repositories
// (one AQL query per page for all of them) whose modified time is within the window, as Images
// sorted by (modified, repo, path).
//
// Paging: Artifactory drops rows the caller may not read AFTER applying limit, so a short page
// does not mean the end. Pages are requested until one comes back empty: an idle poll costs one
// request, a poll with new items one more than the pages it needed.
//
// Digest is "sha256:"+the item's sha256; Name and Tag come from the path <image>/<tag>;
// platform-manifest folders (sha256__...) and _uploads are skipped. Unless SkipMediaTypes is
// set, the media types (docker.manifest.type) are fetched in batched property queries without
// sort/limit.
func (c *Client) FindManifests(ctx context.Context, q ManifestQuery) ([]Image, error) {
	return c.findManifests(ctx, q, nil)
}

func (c *Client) findManifests(ctx context.Context, q ManifestQuery, keep func(Image) bool) ([]Image, error) {
	if len(q.Repositories) == 0 {
		return nil, errors.New("find manifests: no repository keys given")
	}
	for _, k := range q.Repositories {
		if err := ValidRepositoryKey(k); err != nil {
			return nil, err
		}
	}
	limit := q.PageSize
	if limit <= 0 {
		limit = DefaultManifestPageSize
	}
	if limit > MaxManifestPageSize {
		limit = MaxManifestPageSize
	}
	criteria := manifestCriteria(q.Repositories, q.ModifiedAfter, q.ModifiedBefore)

	type itemKey struct{ repo, path, name string }
	found := map[itemKey]Image{}
	rows := map[itemKey]bool{} // every row seen, tags or not
	for offset := 0; ; offset += limit {
		res, err := c.AQL(ctx, manifestPageQuery(criteria, offset, limit))
		if err != nil {
			return nil, err
		}
		if len(res.Results) == 0 {
			break
		}
		progressed := false
		for _, it := range res.Results {
			k := itemKey{it.Repo, it.Path, it.Name}
			if !rows[k] {
				rows[k] = true
				progressed = true
			}
			img, ok := c.imageFromItem(it)
			if !ok {
				continue
			}
			// An item re-pushed while paging shows up again later with a newer modified time.
			if prev, dup := found[k]; dup && !img.Modified.After(prev.Modified) {
				continue
			}
			found[k] = img
			progressed = true
		}
		if len(res.Results) > limit { // a server ignoring limit returned everything at once
			break
		}
		if !progressed { // a server ignoring offset would repeat this page forever
			c.logger.Warn("AQL paging returned only rows already seen; stopping", "offset", offset)
			break
		}
	}

	out := make([]Image, 0, len(found))
	for _, img := range found {
		if keep == nil || keep(img) {
			out = append(out, img)
		}
	}
	if !q.SkipMediaTypes && len(out) > 0 {
		if err := c.fillMediaTypes(ctx, out); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Modified.Equal(b.Modified) {
			return a.Modified.Before(b.Modified)
		}
		if a.Repository != b.Repository {
			return a.Repository < b.Repository
		}
		return manifestPath(a) < manifestPath(b)
	})
	return out, nil
}

func manifestPath(i Image) string { return i.Name + "/" + i.Tag }

// imageFromItem maps <image...>/<tag>/manifest.json to an Image; other items (root level,
// sha256__ platform folders, _uploads) are not tags.
func (c *Client) imageFromItem(it AQLItem) (Image, bool) {
	if it.Name != ManifestFile && it.Name != ListManifestFile {
		return Image{}, false
	}
	p := strings.Trim(it.Path, "/")
	if p == "" || p == "." {
		return Image{}, false
	}
	slash := strings.LastIndex(p, "/")
	if slash <= 0 {
		return Image{}, false // <tag>/manifest.json at the root: no image name
	}
	name, tag := p[:slash], p[slash+1:]
	if strings.HasPrefix(tag, "sha256__") || tag == "" {
		return Image{}, false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "_uploads" || seg == "" || seg == "." || strings.HasPrefix(seg, ".") {
			return Image{}, false
		}
	}
	img := Image{
		Repository: it.Repo,
		Name:       name,
		Tag:        tag,
		Created:    it.Created,
		Modified:   it.Modified,
		Reference:  ImageReference(c.endpoints.RegistryHost, it.Repo, name, tag),
	}
	if it.SHA256 != "" {
		img.Digest = "sha256:" + it.SHA256
	}
	return img, true
}

// fillMediaTypes reads docker.manifest.type (and docker.manifest.digest where sha256 was
// missing) in batched property queries covering all repositories at once. No sort or limit, so
// the joined-rows quirk cannot truncate them. A query Artifactory rejects (400) leaves media types
// empty rather than failing discovery.
func (c *Client) fillMediaTypes(ctx context.Context, imgs []Image) error {
	type key struct{ repo, path string }
	index := make(map[key][]int, len(imgs))
	var folders []repoPath
	for i, img := range imgs {
		k := key{img.Repository, manifestPath(img)}
		if _, seen := index[k]; !seen {
			folders = append(folders, repoPath{k.repo, k.path})
		}
		index[k] = append(index[k], i)
	}
	for _, batch := range batchFolders(folders) {
		res, err := c.AQL(ctx, propertyQuery(batch))
		if err != nil {
			if StatusCode(err) == http.StatusBadRequest {
				c.logger.Warn("cannot read manifest properties; media types left empty", "error", err)
				return nil
			}
			return fmt.Errorf("read manifest properties: %w", err)
		}
		for _, it := range res.Results {
			for _, i := range index[key{it.Repo, strings.Trim(it.Path, "/")}] {
				if mt, ok := it.Property("docker.manifest.type"); ok && mt != "" {
					imgs[i].MediaType = mt
				}
				if imgs[i].Digest == "" {
					if d, ok := it.Property("docker.manifest.digest"); ok && strings.HasPrefix(d, "sha256:") {
						imgs[i].Digest = d
					} else if it.SHA256 != "" {
						imgs[i].Digest = "sha256:" + strings.ToLower(it.SHA256)
					}
				}
			}
		}
	}
	return nil
}

// repoPath is a tag folder in a repository.
type repoPath struct{ repo, path string }

// propertyQuery selects the manifest files of the given tag folders with all their properties.
func propertyQuery(folders []repoPath) string {
	return fmt.Sprintf(`items.find(%s).include("repo","path","name","sha256","property.*")`, propertyCriteria(folders))
}

func propertyCriteria(folders []repoPath) string {
	var repos []string
	paths := map[string][]any{}
	for _, f := range folders {
		if _, ok := paths[f.repo]; !ok {
			repos = append(repos, f.repo)
		}
		paths[f.repo] = append(paths[f.repo], obj{"path": f.path})
	}
	perRepo := make([]any, 0, len(repos))
	for _, r := range repos {
		perRepo = append(perRepo, obj{"$and": []any{obj{"repo": r}, obj{"$or": paths[r]}}})
	}
	return mustJSON(obj{"$and": []any{
		obj{"$or": []any{obj{"name": ManifestFile}, obj{"name": ListManifestFile}}},
		obj{"$or": perRepo},
	}})
}

// batchFolders splits folders so each property query stays under the AQL length limit.
func batchFolders(folders []repoPath) [][]repoPath {
	base := len(propertyQuery(nil))
	var out [][]repoPath
	var cur []repoPath
	size := base
	seenRepo := map[string]bool{}
	for _, f := range folders {
		n := len(mustJSON(obj{"path": f.path})) + 1
		if !seenRepo[f.repo] {
			n += len(mustJSON(obj{"$and": []any{obj{"repo": f.repo}, obj{"$or": []any{}}}})) + 1
		}
		if len(cur) > 0 && size+n > maxAQLQueryLen {
			out = append(out, cur)
			cur, size, seenRepo = nil, base, map[string]bool{}
			n = len(mustJSON(obj{"path": f.path})) + 1 + len(mustJSON(obj{"$and": []any{obj{"repo": f.repo}, obj{"$or": []any{}}}})) + 1
		}
		seenRepo[f.repo] = true
		cur = append(cur, f)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
