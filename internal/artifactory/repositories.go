package artifactory

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// repositoryJSON covers both GET /api/repositories/{key} (rclass) and the list (type).
type repositoryJSON struct {
	Key         string `json:"key"`
	Rclass      string `json:"rclass"`
	Type        string `json:"type"`
	PackageType string `json:"packageType"`
	Description string `json:"description"`
	URL         string `json:"url"`
}

func (r repositoryJSON) repository() Repository {
	class := r.Rclass
	if class == "" {
		class = r.Type
	}
	return Repository{
		Key:         r.Key,
		Class:       strings.ToLower(class),
		PackageType: strings.ToLower(r.PackageType),
		Description: r.Description,
		URL:         r.URL,
	}
}

// Repository calls GET /api/repositories/{key}. A missing key is an *Error for which IsNotFound
// is true (404, or 400 on older versions).
func (c *Client) Repository(ctx context.Context, key string) (Repository, error) {
	if err := ValidRepositoryKey(key); err != nil {
		return Repository{}, err
	}
	resp, err := c.get(ctx, "/api/repositories/"+url.PathEscape(key), nil)
	if err != nil {
		return Repository{}, err
	}
	var rj repositoryJSON
	if err := json.Unmarshal(resp.body, &rj); err != nil {
		return Repository{}, fmt.Errorf("GET /api/repositories/%s: cannot read the answer: %w", key, err)
	}
	r := rj.repository()
	if r.Key == "" {
		r.Key = key
	}
	return r, nil
}

// Repositories calls GET /api/repositories with the optional type and packageType filters. It
// lists only repositories the caller has some permission on.
func (c *Client) Repositories(ctx context.Context, opts ListRepositoriesOptions) ([]Repository, error) {
	q := url.Values{}
	if opts.Type != "" {
		q.Set("type", strings.ToLower(opts.Type))
	}
	if opts.PackageType != "" {
		q.Set("packageType", strings.ToLower(opts.PackageType))
	}
	resp, err := c.get(ctx, "/api/repositories", q)
	if err != nil {
		return nil, err
	}
	var list []repositoryJSON
	if err := json.Unmarshal(resp.body, &list); err != nil {
		return nil, fmt.Errorf("GET /api/repositories: cannot read the answer: %w", err)
	}
	out := make([]Repository, 0, len(list))
	for _, rj := range list {
		out = append(out, rj.repository())
	}
	return out, nil
}
