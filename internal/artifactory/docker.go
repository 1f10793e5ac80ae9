package artifactory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DefaultDockerPageSize is the n sent to _catalog and tags/list.
const DefaultDockerPageSize = 500

// maxDockerPages stops a server whose paging never ends.
const maxDockerPages = 10000

// manifestAccept lists the manifest media types ManifestDigest accepts.
var manifestAccept = strings.Join([]string{
	MediaTypeOCIIndex, MediaTypeDockerManifestList, MediaTypeOCIManifest, MediaTypeDockerManifest,
}, ", ")

func dockerPath(key string, rest string) string {
	return "/api/docker/" + url.PathEscape(key) + "/v2" + rest
}

// Catalog lists the image names of a Docker repository through
// GET /api/docker/<key>/v2/_catalog, paging with n/last.
func (c *Client) Catalog(ctx context.Context, repositoryKey string) ([]string, error) {
	if err := ValidRepositoryKey(repositoryKey); err != nil {
		return nil, err
	}
	var out []string
	err := c.pageDocker(ctx, dockerPath(repositoryKey, "/_catalog"), func(body []byte) ([]string, error) {
		var page struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Repositories...)
		return page.Repositories, nil
	})
	if err != nil {
		return nil, err
	}
	return dedupe(out), nil
}

// Tags lists the tags of an image through GET /api/docker/<key>/v2/<image>/tags/list, paging
// with n/last.
func (c *Client) Tags(ctx context.Context, repositoryKey, image string) ([]string, error) {
	if err := ValidRepositoryKey(repositoryKey); err != nil {
		return nil, err
	}
	if err := validImageName(image); err != nil {
		return nil, err
	}
	var out []string
	err := c.pageDocker(ctx, dockerPath(repositoryKey, "/"+escapePath(image)+"/tags/list"), func(body []byte) ([]string, error) {
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Tags...)
		return page.Tags, nil
	})
	if err != nil {
		return nil, err
	}
	return dedupe(out), nil
}

// pageDocker follows the registry's n/last paging: the Link rel="next" header when present
// (its query only: the link's path is registry-relative), otherwise last=<last element> while
// pages come back full. It stops when a page is empty or last stops advancing.
func (c *Client) pageDocker(ctx context.Context, path string, read func([]byte) ([]string, error)) error {
	n := DefaultDockerPageSize
	q := url.Values{"n": {strconv.Itoa(n)}}
	prevLast := ""
	for page := 0; page < maxDockerPages; page++ {
		resp, err := c.get(ctx, path, q)
		if err != nil {
			return err
		}
		items, err := read(resp.body)
		if err != nil {
			return fmt.Errorf("GET %s: cannot read the answer: %w", path, err)
		}
		if len(items) == 0 {
			return nil
		}
		last := items[len(items)-1]
		next := nextLinkQuery(resp.header.Values("Link"))
		switch {
		case next != nil:
			if next.Get("n") == "" {
				next.Set("n", strconv.Itoa(n))
			}
			q = next
		case len(items) >= n:
			q = url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
		default:
			return nil
		}
		if q.Get("last") == prevLast {
			return nil
		}
		prevLast = q.Get("last")
	}
	return fmt.Errorf("GET %s: paging did not end after %d pages", path, maxDockerPages)
}

// nextLinkQuery returns the query of the rel="next" Link (</v2/_catalog?last=x&n=100>; rel="next").
func nextLinkQuery(links []string) url.Values {
	for _, header := range links {
		for _, link := range strings.Split(header, ",") {
			parts := strings.Split(link, ";")
			target := strings.TrimSpace(parts[0])
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			isNext := false
			for _, p := range parts[1:] {
				p = strings.ReplaceAll(strings.TrimSpace(p), " ", "")
				if p == `rel="next"` || p == "rel=next" {
					isNext = true
				}
			}
			if !isNext {
				continue
			}
			u, err := url.Parse(strings.Trim(target, "<>"))
			if err != nil {
				continue
			}
			q := u.Query()
			if q.Get("last") == "" {
				continue
			}
			return q
		}
	}
	return nil
}

// ManifestDigest resolves a tag (or digest) to its manifest digest and media type with
// HEAD /api/docker/<key>/v2/<image>/manifests/<tag>, reading Docker-Content-Digest. When the
// header is missing it GETs the manifest and hashes it.
func (c *Client) ManifestDigest(ctx context.Context, repositoryKey, image, tag string) (digest, mediaType string, err error) {
	if err := ValidRepositoryKey(repositoryKey); err != nil {
		return "", "", err
	}
	if err := validImageName(image); err != nil {
		return "", "", err
	}
	if tag == "" {
		return "", "", fmt.Errorf("image %q: empty tag", image)
	}
	path := dockerPath(repositoryKey, "/"+escapePath(image)+"/manifests/"+url.PathEscape(tag))
	resp, err := c.do(ctx, request{method: http.MethodHead, path: path, accept: manifestAccept})
	if err != nil {
		return "", "", err
	}
	mediaType = contentType(resp.header)
	if d := resp.header.Get("Docker-Content-Digest"); strings.HasPrefix(d, "sha256:") {
		return d, mediaType, nil
	}
	resp, err = c.do(ctx, request{method: http.MethodGet, path: path, accept: manifestAccept})
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(resp.body)
	if mt := contentType(resp.header); mt != "" {
		mediaType = mt
	}
	if mediaType == "" {
		var m struct {
			MediaType string `json:"mediaType"`
		}
		if json.Unmarshal(resp.body, &m) == nil {
			mediaType = m.MediaType
		}
	}
	return "sha256:" + hex.EncodeToString(sum[:]), mediaType, nil
}

func contentType(h http.Header) string {
	mt := h.Get("Content-Type")
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	if mt == "application/json" || mt == "text/plain" {
		return ""
	}
	return mt
}

// validImageName rejects names that would escape the API path.
func validImageName(image string) error {
	if image == "" {
		return fmt.Errorf("image name is empty")
	}
	for _, seg := range strings.Split(image, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("image name %q is not valid: segments separated by single '/', no '.' or '..'", image)
		}
	}
	return nil
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
