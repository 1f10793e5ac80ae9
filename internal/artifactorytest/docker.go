package artifactorytest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
)

type dockerMode int

const (
	modeAPI      dockerMode = iota // /artifactory/api/docker/<key>/v2/...
	modeRepoPath                   // /v2/<key>/...
)

// dockerRequest is a parsed Docker V2 request.
type dockerRequest struct {
	mode  dockerMode
	key   string
	kind  string // ping, token, catalog, tags, manifest, blob, upload
	image string
	ref   string // manifest reference, blob digest or upload id ("" for a new upload)
}

const distributionHeader = "Docker-Distribution-Api-Version"

// serveRepoPathDocker serves the repository-path method at the platform root:
// /v2/, /v2/token and /v2/<key>/<image>/... (Artifactory rewrites the latter to
// /api/docker/<key>/v2/<image>/...).
func (s *Server) serveRepoPathDocker(w http.ResponseWriter, r *http.Request, rel string) {
	w.Header().Set(distributionHeader, "registry/2.0")
	rest := strings.TrimPrefix(strings.TrimPrefix(rel, "/v2"), "/")
	switch rest {
	case "":
		s.serveDockerPing(w, r, dockerRequest{mode: modeRepoPath, kind: "ping"})
		return
	case "token":
		s.serveDockerToken(w, r)
		return
	}
	key, tail, _ := strings.Cut(rest, "/")
	if tail == "" && strings.HasPrefix(key, "_") {
		// /v2/_catalog: the repository-path method has no registry-wide catalog.
		if _, ok := s.authenticateDocker(w, r, dockerRequest{mode: modeRepoPath, kind: "catalog", key: key}); ok {
			writeEnvelope(w, http.StatusNotFound, fmt.Sprintf("Unsupported docker v2 repository request for '%s'", key))
		}
		return
	}
	s.serveDockerRepo(w, r, modeRepoPath, key, "/"+tail)
}

// serveAPIDocker serves /artifactory/api/docker/<key>/v2/...
func (s *Server) serveAPIDocker(w http.ResponseWriter, r *http.Request, rest string) {
	w.Header().Set(distributionHeader, "registry/2.0")
	key, after, _ := strings.Cut(rest, "/")
	if after != "v2" && !strings.HasPrefix(after, "v2/") {
		writeEnvelope(w, http.StatusBadRequest, fmt.Sprintf("Unsupported docker repository request for '%s'", key))
		return
	}
	tail := strings.TrimPrefix(after, "v2")
	if tail == "/token" {
		s.serveDockerToken(w, r)
		return
	}
	s.serveDockerRepo(w, r, modeAPI, key, tail)
}

func parseDockerTail(tail string) (kind, image, ref string, ok bool) {
	switch {
	case tail == "" || tail == "/":
		return "ping", "", "", true
	case tail == "/_catalog":
		return "catalog", "", "", true
	case strings.HasSuffix(tail, "/tags/list"):
		return "tags", strings.Trim(strings.TrimSuffix(tail, "/tags/list"), "/"), "", true
	}
	if i := strings.LastIndex(tail, "/blobs/uploads"); i > 0 {
		return "upload", strings.Trim(tail[:i], "/"), strings.Trim(tail[i+len("/blobs/uploads"):], "/"), true
	}
	if i := strings.LastIndex(tail, "/blobs/"); i > 0 {
		return "blob", strings.Trim(tail[:i], "/"), tail[i+len("/blobs/"):], true
	}
	if i := strings.LastIndex(tail, "/manifests/"); i > 0 {
		return "manifest", strings.Trim(tail[:i], "/"), tail[i+len("/manifests/"):], true
	}
	return "", "", "", false
}

func (s *Server) serveDockerRepo(w http.ResponseWriter, r *http.Request, mode dockerMode, key, tail string) {
	kind, image, ref, ok := parseDockerTail(tail)
	req := dockerRequest{mode: mode, key: key, kind: kind, image: image, ref: ref}
	if kind == "ping" {
		s.serveDockerPing(w, r, req)
		return
	}
	p, authed := s.authenticateDocker(w, r, req)
	if !authed {
		return
	}
	rp, found := s.dockerRepo(key)
	if !found || (rp.PackageType != "docker" && rp.PackageType != "oci") {
		writeEnvelope(w, http.StatusNotFound, fmt.Sprintf("Unsupported docker v2 repository request for '%s'", key))
		return
	}
	if !ok || (kind != "catalog" && image == "") {
		writeDockerError(w, http.StatusNotFound, "METHOD_UNKNOWN", "We don't understand your method + url", nil)
		return
	}
	if image != "" && !validImageName(image) {
		writeDockerError(w, http.StatusBadRequest, "NAME_INVALID", "invalid repository name", map[string]string{"name": image})
		return
	}
	switch kind {
	case "catalog":
		s.serveCatalog(w, r, p, req)
	case "tags":
		s.serveTags(w, r, p, req)
	case "manifest":
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			s.serveManifestRead(w, r, p, req)
			return
		}
		s.serveWrite(w, r, p, rp, req)
	case "blob":
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			s.serveBlobRead(w, r, p, req)
			return
		}
		s.serveWrite(w, r, p, rp, req)
	case "upload":
		s.serveWrite(w, r, p, rp, req)
	}
}

// isRemoteCacheLocked reports whether a physical key is a remote's cache.
func (s *Server) isRemoteCacheLocked(key string) bool {
	r, ok := s.repos[strings.TrimSuffix(key, "-cache")]
	return ok && strings.HasSuffix(key, "-cache") && r.Class == "remote"
}

// validImageName rejects names that would escape the image's folders.
func validImageName(image string) bool {
	for _, seg := range strings.Split(image, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, "sha256__") || seg == "_uploads" {
			return false
		}
	}
	return true
}

// dockerRepo looks a key up; "<remote>-cache" is addressable like a repository.
func (s *Server) dockerRepo(key string) (Repository, bool) {
	if rp, ok := s.repo(key); ok {
		return rp, true
	}
	if remote, ok := s.repo(strings.TrimSuffix(key, "-cache")); ok && remote.Class == "remote" && strings.HasSuffix(key, "-cache") {
		return Repository{Key: key, Class: "cache", PackageType: remote.PackageType}, true
	}
	return Repository{}, false
}

// challenge is the Bearer WWW-Authenticate value for a request.
func (s *Server) challenge(req dockerRequest, method string) string {
	host := s.RegistryHost()
	if req.kind == "ping" && req.mode == modeRepoPath {
		return fmt.Sprintf(`Bearer realm="%s/v2/token",service="%s"`, s.URL(), host)
	}
	realm := fmt.Sprintf("%s%s/api/docker/%s/v2/token", s.URL(), Context, req.key)
	if req.kind == "ping" {
		return fmt.Sprintf(`Bearer realm="%s",service="%s"`, realm, host)
	}
	var scope string
	switch {
	case req.kind == "catalog":
		scope = "registry:catalog:*"
	default:
		name := req.image
		if req.mode == modeRepoPath {
			name = req.key + "/" + req.image
		}
		action := "pull"
		if method != http.MethodGet && method != http.MethodHead {
			action = "pull,push"
		}
		scope = "repository:" + name + ":" + action
	}
	return fmt.Sprintf(`Bearer realm="%s",service="%s",scope="%s"`, realm, host, scope)
}

func (s *Server) writeChallenge(w http.ResponseWriter, r *http.Request, req dockerRequest) {
	w.Header().Set("WWW-Authenticate", s.challenge(req, r.Method))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`))
}

// authenticateDocker accepts REST credentials and Docker token-endpoint tokens.
// Missing or expired credentials get the Bearer challenge; bad ones 401.
func (s *Server) authenticateDocker(w http.ResponseWriter, r *http.Request, req dockerRequest) (principal, bool) {
	p, outcome := s.authenticate(r, true)
	switch outcome {
	case authOK:
		return p, true
	case authNone:
		if p.anonymous {
			return p, true
		}
		s.writeChallenge(w, r, req)
	case authExpired:
		s.writeChallenge(w, r, req)
	case authMismatch:
		w.Header().Set("WWW-Authenticate", s.challenge(req, r.Method))
		writeEnvelope(w, http.StatusUnauthorized, "Token principal mismatch.")
	case authLocked:
		writeEnvelope(w, http.StatusForbidden, p.lockMsg)
	default:
		w.Header().Set("WWW-Authenticate", s.challenge(req, r.Method))
		writeEnvelope(w, http.StatusUnauthorized, "Bad Credentials")
	}
	return principal{}, false
}

// deny answers a request the principal may not make: anonymous callers get
// the challenge (so clients log in), authenticated ones 403.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, p principal, req dockerRequest) {
	if p.anonymous {
		s.writeChallenge(w, r, req)
		return
	}
	writeDockerError(w, http.StatusForbidden, "DENIED", "requested access to the resource is denied", nil)
}

func writeDockerError(w http.ResponseWriter, status int, code, message string, detail any) {
	body, _ := json.Marshal(map[string]any{"errors": []any{dockerErr{Code: code, Message: message, Detail: detail}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type dockerErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail"`
}

func (s *Server) serveDockerPing(w http.ResponseWriter, r *http.Request, req dockerRequest) {
	p, outcome := s.authenticate(r, true)
	switch {
	case outcome == authOK, outcome == authNone && p.anonymous:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("{}"))
	case outcome == authLocked:
		writeEnvelope(w, http.StatusForbidden, p.lockMsg)
	case outcome == authBad || outcome == authMismatch:
		w.Header().Set("WWW-Authenticate", s.challenge(req, r.Method))
		writeEnvelope(w, http.StatusUnauthorized, "Bad Credentials")
	default:
		s.writeChallenge(w, r, req)
	}
}

// serveDockerToken is the token endpoint (/v2/token and
// /artifactory/api/docker/<key>/v2/token): GET with Basic or Bearer
// credentials -> {"token","expires_in"}.
func (s *Server) serveDockerToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeEnvelope(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	p, outcome := s.authenticate(r, true)
	switch outcome {
	case authOK:
	case authNone:
		if !p.anonymous {
			writeUnauthorized(w, "Authentication is required")
			return
		}
	case authMismatch:
		writeUnauthorized(w, "Token principal mismatch.")
		return
	case authLocked:
		writeEnvelope(w, http.StatusForbidden, p.lockMsg)
		return
	default:
		writeUnauthorized(w, "Bad Credentials")
		return
	}
	ttl := s.cfg.dockerTokenTTL
	tok := s.issue(p.name, ttl, dockerToken)
	body, _ := json.Marshal(struct {
		Token     string `json:"token"`
		ExpiresIn int64  `json:"expires_in"`
	}{tok, int64(ttl.Seconds())})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// tagFolders calls fn(image, tag) for every tag folder holding a manifest
// file; sha256__ folders (platform manifests of an index) are not tags.
func tagFolders(st *repoStore, fn func(image, tag string)) {
	for _, n := range []string{"manifest.json", "list.manifest.json"} {
		for rel := range st.byName[n] {
			folder := path.Dir(rel)
			tag, img := path.Base(folder), path.Dir(folder)
			if img == "." || strings.HasPrefix(tag, "sha256__") {
				continue
			}
			fn(img, tag)
		}
	}
}

// imagesLocked lists image names with at least one tag in a store.
func imagesLocked(st *repoStore) map[string]bool {
	out := map[string]bool{}
	tagFolders(st, func(image, _ string) { out[image] = true })
	return out
}

// tagsLocked lists the tags of an image in a store.
func tagsLocked(st *repoStore, image string) map[string]bool {
	out := map[string]bool{}
	tagFolders(st, func(img, tag string) {
		if img == image {
			out[tag] = true
		}
	})
	return out
}

// page applies n/last paging to a sorted list and returns the next "last" when more remain.
func page(all []string, q url.Values) (out []string, next string, n int, err error) {
	last := q.Get("last")
	start := 0
	if last != "" {
		start = sort.SearchStrings(all, last)
		if start < len(all) && all[start] == last {
			start++
		}
	}
	rest := all[start:]
	if nv := q.Get("n"); nv != "" {
		n, err = strconv.Atoi(nv)
		if err != nil || n < 0 {
			return nil, "", 0, fmt.Errorf("invalid n %q", nv)
		}
		if n > 0 && len(rest) > n {
			return rest[:n], rest[n-1], n, nil
		}
	}
	return rest, "", n, nil
}

func (s *Server) serveCatalog(w http.ResponseWriter, r *http.Request, p principal, req dockerRequest) {
	set, ok := s.readableUnion(w, r, p, req, func(k string, into map[string]bool) {
		if k != req.key && s.isRemoteCacheLocked(k) {
			return // remote catalogs answer [] (docker.io has no catalog), also inside a virtual
		}
		for img := range imagesLocked(s.stores[k]) {
			into[img] = true
		}
	})
	if !ok {
		return
	}
	out, ok := writePage(w, r, sortedKeys(set), "/v2/"+req.key+"/_catalog")
	if !ok {
		return
	}
	writePrettyJSON(w, http.StatusOK, "application/json", object{{"repositories", nonNil(out)}})
}

func (s *Server) serveTags(w http.ResponseWriter, r *http.Request, p principal, req dockerRequest) {
	set, ok := s.readableUnion(w, r, p, req, func(k string, into map[string]bool) {
		for t := range tagsLocked(s.stores[k], req.image) {
			into[t] = true
		}
	})
	if !ok {
		return
	}
	if len(set) == 0 {
		writeDockerError(w, http.StatusNotFound, "NAME_UNKNOWN", "Repository name not known to registry.", map[string]string{"name": req.image})
		return
	}
	out, ok := writePage(w, r, sortedKeys(set), "/v2/"+req.key+"/"+req.image+"/tags/list")
	if !ok {
		return
	}
	name := req.image
	if req.mode == modeRepoPath {
		name = req.key + "/" + req.image
	}
	writePrettyJSON(w, http.StatusOK, "application/json", object{{"name", name}, {"tags", nonNil(out)}})
}

// readableUnion is the shared first half of a catalog or tags/list GET: it collects names from
// every repository the caller can read under req.key (a virtual key spans its members). It has
// answered the request itself when ok is false.
func (s *Server) readableUnion(w http.ResponseWriter, r *http.Request, p principal, req dockerRequest, collect func(key string, into map[string]bool)) (set map[string]bool, ok bool) {
	if r.Method != http.MethodGet {
		writeDockerError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.", nil)
		return nil, false
	}
	s.mu.Lock()
	keys := s.readableKeysLocked(p, req.key)
	if len(keys) == 0 && !s.canReadLocked(p, req.key, 0) {
		s.mu.Unlock()
		s.deny(w, r, p, req) // the challenge reads the URL under the lock
		return nil, false
	}
	set = map[string]bool{}
	for _, k := range keys {
		collect(k, set)
	}
	s.mu.Unlock()
	return set, true
}

// writePage applies n/last paging to all and sets the Link header of the next page, which points
// at linkPath (the repository-path method). It has answered the request itself when ok is false.
func writePage(w http.ResponseWriter, r *http.Request, all []string, linkPath string) (out []string, ok bool) {
	out, next, n, err := page(all, r.URL.Query())
	if err != nil {
		writeDockerError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "invalid number of results requested", map[string]string{"n": r.URL.Query().Get("n")})
		return nil, false
	}
	if next != "" {
		w.Header().Set("Link", fmt.Sprintf(`<%s?last=%s&n=%d>; rel="next"`, linkPath, url.QueryEscape(next), n))
	}
	return out, true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hasManifestLocked reports whether a store holds the image's manifest for ref (tag or digest).
func hasManifestLocked(st *repoStore, image, ref string) bool {
	if strings.HasPrefix(ref, "sha256:") {
		for rel := range st.bySHA[strings.TrimPrefix(ref, "sha256:")] {
			it := st.items[rel]
			if (it.name == "manifest.json" || it.name == "list.manifest.json") && path.Dir(it.folderPath) == image {
				return true
			}
		}
		return false
	}
	for _, n := range []string{"manifest.json", "list.manifest.json"} {
		if it, ok := st.items[image+"/"+ref+"/"+n]; ok && !it.folder {
			return true
		}
	}
	return false
}

func hasBlobLocked(st *repoStore, image, digest string) bool {
	prefix := image + "/"
	for rel := range st.byName[strings.Replace(digest, ":", "__", 1)] {
		if strings.HasPrefix(rel, prefix) {
			return true
		}
	}
	return false
}

func (s *Server) serveManifestRead(w http.ResponseWriter, r *http.Request, p principal, req dockerRequest) {
	s.mu.Lock()
	keys := s.readableKeysLocked(p, req.key)
	readable := len(keys) > 0 || s.canReadLocked(p, req.key, 0)
	phys := ""
	for _, k := range keys {
		if hasManifestLocked(s.stores[k], req.image, req.ref) {
			phys = k
			break
		}
	}
	s.mu.Unlock()
	if !readable {
		s.deny(w, r, p, req)
		return
	}
	if phys == "" {
		writeDockerError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "The named manifest is not known to the registry.", map[string]string{"manifest": req.image})
		return
	}
	s.delegate(w, r, "/v2/"+phys+"/"+req.image+"/manifests/"+req.ref)
}

func (s *Server) serveBlobRead(w http.ResponseWriter, r *http.Request, p principal, req dockerRequest) {
	s.mu.Lock()
	keys := s.readableKeysLocked(p, req.key)
	readable := len(keys) > 0 || s.canReadLocked(p, req.key, 0)
	phys := ""
	for _, k := range keys {
		if hasBlobLocked(s.stores[k], req.image, req.ref) || s.uploadedBlob[k+"/"+req.image][req.ref] {
			phys = k
			break
		}
	}
	s.mu.Unlock()
	if !readable {
		s.deny(w, r, p, req)
		return
	}
	if phys == "" {
		writeDockerError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to registry", map[string]string{"blobSum": req.ref})
		return
	}
	s.delegate(w, r, "/v2/"+phys+"/"+req.image+"/blobs/"+req.ref)
}

// delegate serves r from the ggcr registry at registryPath.
func (s *Server) delegate(w http.ResponseWriter, r *http.Request, registryPath string) {
	r2 := r.Clone(r.Context())
	r2.URL.Path = registryPath
	r2.URL.RawPath = ""
	r2.RequestURI = ""
	s.registry.ServeHTTP(w, r2)
}

// deployTarget returns the physical repository a push to rp lands in, or an
// error message with its status.
func (s *Server) deployTarget(rp Repository, kind string) (string, int, string) {
	switch rp.Class {
	case "remote":
		if kind == "manifest" {
			return "", http.StatusBadRequest, "Unable to upload a manifest to a remote repository."
		}
		return "", http.StatusBadRequest, "Unable to upload blobs to a remote repository."
	case "virtual":
		if rp.DefaultDeploymentRepo == "" {
			return "", http.StatusBadRequest, fmt.Sprintf("Virtual repository '%s' has no default deployment repository.", rp.Key)
		}
		target, ok := s.repo(rp.DefaultDeploymentRepo)
		if !ok || target.Class == "virtual" {
			return "", http.StatusBadRequest, fmt.Sprintf("Virtual repository '%s' has no default deployment repository.", rp.Key)
		}
		return s.deployTarget(target, kind)
	}
	return rp.Key, 0, ""
}

// serveWrite handles pushes (blob uploads, manifest PUT/DELETE). Only admins deploy.
func (s *Server) serveWrite(w http.ResponseWriter, r *http.Request, p principal, rp Repository, req dockerRequest) {
	if !p.admin {
		s.deny(w, r, p, req)
		return
	}
	phys, status, msg := s.deployTarget(rp, req.kind)
	if status != 0 {
		writeEnvelope(w, status, msg)
		return
	}
	routePrefix := "/v2/" + req.key + "/" + req.image
	if req.mode == modeAPI {
		routePrefix = Context + "/api/docker/" + req.key + "/v2/" + req.image
	}
	regPrefix := "/v2/" + phys + "/" + req.image
	switch req.kind {
	case "upload", "blob":
		rec := httptest.NewRecorder()
		sub := "/blobs/uploads"
		if req.ref != "" {
			sub += "/" + req.ref
		}
		if req.kind == "blob" {
			sub = "/blobs/" + req.ref
		}
		s.delegate(rec, r, regPrefix+sub)
		if rec.Code == http.StatusCreated {
			if d := rec.Header().Get("Docker-Content-Digest"); d != "" {
				s.mu.Lock()
				k := phys + "/" + req.image
				if s.uploadedBlob[k] == nil {
					s.uploadedBlob[k] = map[string]bool{}
				}
				s.uploadedBlob[k][d] = true
				s.mu.Unlock()
			}
		}
		if loc := rec.Header().Get("Location"); strings.HasPrefix(loc, regPrefix) {
			rec.Header().Set("Location", routePrefix+strings.TrimPrefix(loc, regPrefix))
		}
		copyRecorded(w, rec)
	case "manifest":
		switch r.Method {
		case http.MethodPut:
			s.putManifest(w, r, p, phys, routePrefix, regPrefix, req)
		case http.MethodDelete:
			rec := httptest.NewRecorder()
			s.delegate(rec, r, regPrefix+"/manifests/"+req.ref)
			if rec.Code == http.StatusAccepted {
				s.deleteManifestItems(phys, req.image, req.ref)
			}
			copyRecorded(w, rec)
		default:
			writeDockerError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.", nil)
		}
	}
}

func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, p principal, phys, routePrefix, regPrefix string, req dockerRequest) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		writeDockerError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest invalid", nil)
		return
	}
	mt := r.Header.Get("Content-Type")
	if mt == "" || strings.HasPrefix(mt, "application/json") || mt == "application/octet-stream" {
		var probe struct {
			MediaType string `json:"mediaType"`
		}
		if json.Unmarshal(raw, &probe) == nil && probe.MediaType != "" {
			mt = probe.MediaType
		}
	}
	if strings.HasPrefix(req.ref, "sha256:") {
		if h := sha256.Sum256(raw); req.ref != "sha256:"+hex.EncodeToString(h[:]) {
			writeDockerError(w, http.StatusBadRequest, "DIGEST_INVALID", "provided digest did not match uploaded content", map[string]string{"digest": req.ref})
			return
		}
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(raw))
	r2.ContentLength = int64(len(raw))
	r2.Header.Set("Content-Type", mt)
	rec := httptest.NewRecorder()
	s.delegate(rec, r2, regPrefix+"/manifests/"+req.ref)
	if rec.Code == http.StatusCreated {
		s.recordManifest(r.Context(), manifestRecord{repo: phys, image: req.image, reference: req.ref, mediaType: mt, raw: raw, user: p.name})
		rec.Header().Set("Location", routePrefix+"/manifests/"+rec.Header().Get("Docker-Content-Digest"))
	}
	copyRecorded(w, rec)
}

func (s *Server) deleteManifestItems(phys, image, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stores[phys]
	if !ok {
		return
	}
	if !strings.HasPrefix(ref, "sha256:") {
		deleteTreeLocked(st, image+"/"+ref)
		return
	}
	var folders []string
	for rel := range st.bySHA[strings.TrimPrefix(ref, "sha256:")] {
		it := st.items[rel]
		if (it.name == "manifest.json" || it.name == "list.manifest.json") && path.Dir(it.folderPath) == image {
			folders = append(folders, it.folderPath)
		}
	}
	for _, f := range folders {
		deleteTreeLocked(st, f)
	}
}

func copyRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// registryDelete removes a tag from the ggcr registry.
func (s *Server) registryDelete(key, image, tag string) {
	req := httptest.NewRequest(http.MethodDelete, "/v2/"+key+"/"+image+"/manifests/"+tag, nil)
	s.registry.ServeHTTP(httptest.NewRecorder(), req)
}
