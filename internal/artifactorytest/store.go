package artifactorytest

import (
	"context"
	"crypto/md5"  //nolint:gosec // Artifactory reports md5 checksums
	"crypto/sha1" //nolint:gosec // Artifactory reports sha1 checksums
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// item is a file or folder in a repository's storage.
type item struct {
	id         int64
	repo       string
	folderPath string // parent folder relative to the repo root; "." for the root
	name       string
	folder     bool
	size       int64
	created    time.Time
	createdBy  string
	modified   time.Time
	modifiedBy string
	updated    time.Time
	sha1       string
	md5        string
	sha256     string
	mimeType   string
	props      []prop
}

type prop struct{ Key, Value string }

// relPath is the item's path relative to the repository root ("" for the root).
func (it *item) relPath() string {
	if it.folderPath == "." || it.folderPath == "" {
		return it.name
	}
	return it.folderPath + "/" + it.name
}

func (it *item) prop(key string) (string, bool) {
	for _, p := range it.props {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

type repoStore struct {
	key    string
	items  map[string]*item           // by relPath; the root folder is ""
	byName map[string]map[string]bool // file name -> relPaths
	bySHA  map[string]map[string]bool // file sha256 -> relPaths
}

func newRepoStore(key string) *repoStore {
	return &repoStore{key: key, items: map[string]*item{}, byName: map[string]map[string]bool{}, bySHA: map[string]map[string]bool{}}
}

func addIndex(idx map[string]map[string]bool, k, rel string) {
	if k == "" {
		return
	}
	if idx[k] == nil {
		idx[k] = map[string]bool{}
	}
	idx[k][rel] = true
}

func dropIndex(idx map[string]map[string]bool, k, rel string) {
	delete(idx[k], rel)
	if len(idx[k]) == 0 {
		delete(idx, k)
	}
}

func (st *repoStore) put(rel string, it *item) {
	st.items[rel] = it
	if !it.folder {
		addIndex(st.byName, it.name, rel)
		addIndex(st.bySHA, it.sha256, rel)
	}
}

func (st *repoStore) remove(rel string) {
	if it, ok := st.items[rel]; ok && !it.folder {
		dropIndex(st.byName, it.name, rel)
		dropIndex(st.bySHA, it.sha256, rel)
	}
	delete(st.items, rel)
}

// ensureStoreLocked must be called with s.mu held.
func (s *Server) ensureStoreLocked(key string) *repoStore {
	st, ok := s.stores[key]
	if !ok {
		now := s.now()
		st = newRepoStore(key)
		s.nextItemID++
		st.items[""] = &item{id: s.nextItemID, repo: key, folderPath: ".", name: "", folder: true,
			size: -1, created: now, createdBy: "_system_", modified: now, modifiedBy: "_system_", updated: now}
		s.stores[key] = st
	}
	return st
}

func splitRel(rel string) (folder, name string) {
	dir, name := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	return dir, name
}

// putFileLocked creates or overwrites a file (s.mu held). Re-deploying keeps
// created and moves modified/updated to now.
func (s *Server) putFileLocked(st *repoStore, rel string, f item, user string, now time.Time) *item {
	s.ensureFoldersLocked(st, path.Dir(rel), user, now)
	folder, name := splitRel(rel)
	if old, ok := st.items[rel]; ok && !old.folder {
		dropIndex(st.bySHA, old.sha256, rel)
		addIndex(st.bySHA, f.sha256, rel)
		old.size, old.sha1, old.md5, old.sha256, old.mimeType = f.size, f.sha1, f.md5, f.sha256, f.mimeType
		old.props = f.props
		old.modified, old.modifiedBy, old.updated = now, user, now
		return old
	}
	s.nextItemID++
	it := f
	it.id = s.nextItemID
	it.repo = st.key
	it.folderPath = folder
	it.name = name
	it.created, it.createdBy = now, user
	it.modified, it.modifiedBy, it.updated = now, user, now
	st.put(rel, &it)
	return &it
}

func (s *Server) ensureFoldersLocked(st *repoStore, rel, user string, now time.Time) {
	if rel == "." || rel == "" || rel == "/" {
		return
	}
	if _, ok := st.items[rel]; ok {
		return
	}
	s.ensureFoldersLocked(st, path.Dir(rel), user, now)
	folder, name := splitRel(rel)
	s.nextItemID++
	st.put(rel, &item{id: s.nextItemID, repo: st.key, folderPath: folder, name: name, folder: true, size: -1,
		created: now, createdBy: user, modified: now, modifiedBy: user, updated: now})
}

// deleteTreeLocked removes rel and everything below it.
func deleteTreeLocked(st *repoStore, rel string) {
	for k := range st.items {
		if k == rel || strings.HasPrefix(k, rel+"/") {
			st.remove(k)
		}
	}
}

// children returns the direct children of folder rel, sorted by name.
func (st *repoStore) children(rel string) []*item {
	var out []*item
	for k, it := range st.items {
		if k == "" {
			continue
		}
		parent := path.Dir(k)
		if parent == "." {
			parent = ""
		}
		if parent == rel {
			out = append(out, it)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// manifestRecord describes a manifest PUT the double accepted.
type manifestRecord struct {
	repo      string // physical repository key
	image     string
	reference string // tag or digest
	mediaType string
	raw       []byte
	user      string
}

// recordManifest writes the storage items a docker push creates:
// <image>/<tag>/manifest.json (list.manifest.json for an index) with the
// docker.* and sha256 properties, plus sha256__<hex> files for the config and
// layers. A push by digest lands in <image>/sha256__<hex>/.
func (s *Server) recordManifest(ctx context.Context, m manifestRecord) {
	sum := sha256.Sum256(m.raw)
	hexDigest := hex.EncodeToString(sum[:])
	digest := "sha256:" + hexDigest
	folderName := m.reference
	if strings.HasPrefix(m.reference, "sha256:") {
		folderName = strings.Replace(m.reference, ":", "__", 1)
	}
	isIndex := isIndexMediaType(m.mediaType)
	fileName := "manifest.json"
	if isIndex {
		fileName = "list.manifest.json"
	}
	// Blobs referenced by an image manifest, hashed before taking the lock.
	var blobs []item
	if !isIndex {
		var mf struct {
			Config v1.Descriptor   `json:"config"`
			Layers []v1.Descriptor `json:"layers"`
		}
		if err := json.Unmarshal(m.raw, &mf); err == nil {
			descs := append([]v1.Descriptor{}, mf.Layers...)
			if mf.Config.Digest.Hex != "" {
				descs = append(descs, mf.Config)
			}
			seen := map[string]bool{}
			for _, d := range descs {
				if d.Digest.Algorithm != "sha256" || seen[d.Digest.Hex] {
					continue
				}
				seen[d.Digest.Hex] = true
				b := item{name: "sha256__" + d.Digest.Hex, size: d.Size, sha256: d.Digest.Hex, mimeType: "application/octet-stream"}
				if rc, err := s.blobStore.Get(ctx, m.repo+"/"+m.image, d.Digest); err == nil {
					h1, h5 := sha1.New(), md5.New() //nolint:gosec
					if n, err := io.Copy(io.MultiWriter(h1, h5), rc); err == nil {
						b.size = n
						b.sha1, b.md5 = hex.EncodeToString(h1.Sum(nil)), hex.EncodeToString(h5.Sum(nil))
					}
					_ = rc.Close()
				}
				blobs = append(blobs, b)
			}
		}
	}
	h1, h5 := sha1.Sum(m.raw), md5.Sum(m.raw) //nolint:gosec
	mt := m.mediaType
	props := []prop{
		{"docker.manifest", folderName},
		{"docker.manifest.digest", digest},
		{"docker.manifest.type", mt},
		{"docker.repoName", m.image},
		{"sha256", hexDigest},
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ensureStoreLocked(m.repo)
	now := s.now()
	tagFolder := m.image + "/" + folderName
	// A tag that switched between single and multi-platform loses the other file,
	// and layer files the new manifest no longer references.
	keep := map[string]bool{fileName: true}
	for _, b := range blobs {
		keep[b.name] = true
	}
	for _, c := range st.children(tagFolder) {
		if !c.folder && !keep[c.name] {
			st.remove(tagFolder + "/" + c.name)
		}
	}
	s.putFileLocked(st, tagFolder+"/"+fileName, item{
		size: int64(len(m.raw)), sha256: hexDigest, sha1: hex.EncodeToString(h1[:]), md5: hex.EncodeToString(h5[:]),
		mimeType: "application/json", props: props,
	}, m.user, now)
	for _, b := range blobs {
		rel := tagFolder + "/" + b.name
		if old, ok := st.items[rel]; ok && old.sha256 == b.sha256 {
			continue // same blob already there: Artifactory does not redeploy it
		}
		s.putFileLocked(st, rel, b, m.user, now)
	}
}

func isIndexMediaType(mt string) bool {
	return mt == "application/vnd.docker.distribution.manifest.list.v2+json" ||
		mt == "application/vnd.oci.image.index.v1+json"
}

// DeleteTag deletes <image>/<tag>/ from the repository's storage and the tag
// from the registry, as deleting the tag folder in Artifactory does.
func (s *Server) DeleteTag(repositoryKey, image, tag string) {
	s.mu.Lock()
	st, ok := s.stores[repositoryKey]
	if ok {
		deleteTreeLocked(st, image+"/"+tag)
	}
	s.mu.Unlock()
	s.registryDelete(repositoryKey, image, tag)
}

// physicalStoresLocked returns the stores a key reads from, in resolution
// order: a local repo itself, a remote's cache, a virtual's members.
func (s *Server) physicalKeysLocked(key string, depth int) []string {
	if _, ok := s.stores[key]; ok {
		return []string{key}
	}
	r, ok := s.repos[key]
	if !ok || depth > 8 {
		return nil
	}
	switch r.Class {
	case "remote":
		return []string{key + "-cache"}
	case "virtual":
		var out []string
		seen := map[string]bool{}
		for _, m := range r.Members {
			for _, k := range s.physicalKeysLocked(m, depth+1) {
				if !seen[k] {
					seen[k] = true
					out = append(out, k)
				}
			}
		}
		return out
	}
	return nil
}

// readableKeysLocked returns the physical stores p may read through key.
// A grant on a virtual repository covers its members.
func (s *Server) readableKeysLocked(p principal, key string) []string {
	all := s.physicalKeysLocked(key, 0)
	if p.admin || s.grants[p.name][key] {
		return all
	}
	var out []string
	for _, k := range all {
		if s.canReadLocked(p, k, 0) {
			out = append(out, k)
		}
	}
	return out
}
