package artifactorytest

import (
	"net/http"
	"strings"
)

// Repository is a repository of the double.
type Repository struct {
	Key         string
	Class       string // "local" (default), "remote", "virtual", "federated"
	PackageType string // "docker" (default), "generic", "helm", "maven", ...
	Description string
	// Members are the repositories a virtual repository aggregates, in resolution order.
	Members []string
	// DefaultDeploymentRepo receives pushes made to a virtual repository.
	DefaultDeploymentRepo string
	// URL is a remote repository's upstream (default https://registry-1.docker.io/).
	URL string
}

// AddRepository adds or replaces a repository. A remote repository gets its
// "<key>-cache" storage.
func (s *Server) AddRepository(r Repository) {
	if r.Class == "" {
		r.Class = "local"
	}
	r.Class = strings.ToLower(r.Class)
	if r.PackageType == "" {
		r.PackageType = "docker"
	}
	r.PackageType = strings.ToLower(r.PackageType)
	if r.Class == "remote" && r.URL == "" {
		r.URL = "https://registry-1.docker.io/"
	}
	r.Members = append([]string(nil), r.Members...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.repos[r.Key]; !exists {
		s.repoOrder = append(s.repoOrder, r.Key)
	}
	s.repos[r.Key] = &r
	switch r.Class {
	case "local", "federated":
		s.ensureStoreLocked(r.Key)
	case "remote":
		s.ensureStoreLocked(r.Key + "-cache")
	}
}

// RemoveRepository deletes a repository and its content from the index.
func (s *Server) RemoveRepository(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.repos, key)
	delete(s.stores, key)
	delete(s.stores, key+"-cache")
	for i, k := range s.repoOrder {
		if k == key {
			s.repoOrder = append(s.repoOrder[:i], s.repoOrder[i+1:]...)
			break
		}
	}
}

func (s *Server) repo(key string) (Repository, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[key]
	if !ok {
		return Repository{}, false
	}
	return *r, true
}

func (s *Server) servePing(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeEnvelope(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if s.cfg.pingValidates {
		p, outcome := s.authenticate(r, false)
		switch outcome {
		case authBad, authExpired:
			writeUnauthorized(w, "Bad credentials")
			return
		case authMismatch:
			writeUnauthorized(w, "Token principal mismatch.")
			return
		case authLocked:
			writeEnvelope(w, http.StatusForbidden, p.lockMsg)
			return
		}
	}
	writeText(w, http.StatusOK, "OK")
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticateREST(w, r); !ok {
		return
	}
	body := object{
		{"version", s.cfg.version},
		{"revision", s.revision()},
		{"addons", []string{"build", "docker", "filestore", "ha", "ldap", "properties", "rest", "search", "sso", "webstart"}},
		{"license", "Enterprise+"},
	}
	writePrettyJSON(w, http.StatusOK, "application/vnd.org.jfrog.artifactory.system.Version+json", body)
}

// packageTypeDisplay is the enum display case /api/repositories uses.
func packageTypeDisplay(pt string) string {
	known := map[string]string{
		"docker": "Docker", "generic": "Generic", "helm": "Helm", "maven": "Maven", "npm": "Npm",
		"pypi": "Pypi", "nuget": "NuGet", "go": "Go", "oci": "OCI", "gradle": "Gradle", "debian": "Debian",
		"rpm": "YUM", "helmoci": "HelmOCI",
	}
	if d, ok := known[pt]; ok {
		return d
	}
	if pt == "" {
		return ""
	}
	return strings.ToUpper(pt[:1]) + pt[1:]
}

func (s *Server) repoURL(r Repository) string {
	if r.Class == "remote" {
		return r.URL
	}
	return s.BaseURL() + "/" + r.Key
}

func (s *Server) serveRepositories(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticateREST(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	typ := strings.ToLower(q.Get("type"))
	pkg := strings.ToLower(q.Get("packageType"))
	project := q.Get("project")
	s.mu.Lock()
	var repos []Repository
	for _, class := range []string{"local", "remote", "virtual", "federated"} {
		for _, k := range s.repoOrder {
			rp := s.repos[k]
			if rp.Class != class {
				continue
			}
			if typ != "" && typ != class {
				continue
			}
			if pkg != "" && pkg != rp.PackageType {
				continue
			}
			if project != "" {
				continue // the double has no projects
			}
			if !s.canReadLocked(p, rp.Key, 0) {
				continue
			}
			repos = append(repos, *rp)
		}
	}
	s.mu.Unlock()
	list := make([]any, 0, len(repos))
	for _, rp := range repos {
		list = append(list, object{
			{"key", rp.Key},
			{"type", strings.ToUpper(rp.Class)},
			{"description", rp.Description},
			{"url", s.repoURL(rp)},
			{"packageType", packageTypeDisplay(rp.PackageType)},
		})
	}
	w.Header().Set("Cache-Control", "no-store")
	writePrettyJSON(w, http.StatusOK, "application/vnd.org.jfrog.artifactory.repositories.RepositoryDetailsList+json", list)
}

func (s *Server) serveRepository(w http.ResponseWriter, r *http.Request, key string) {
	p, ok := s.authenticateREST(w, r)
	if !ok {
		return
	}
	key = strings.TrimSuffix(key, "/")
	rp, found := s.repo(key)
	if !found {
		if s.cfg.legacyMissingRepo {
			writeEnvelope(w, http.StatusBadRequest, "The repository "+key+" was not found")
			return
		}
		writeEnvelope(w, http.StatusNotFound, "The repository "+key+" was not found")
		return
	}
	if !s.canRead(p, key) {
		writeEnvelope(w, http.StatusForbidden, "Forbidden")
		return
	}
	layout := "simple-default"
	if rp.PackageType == "maven" || rp.PackageType == "gradle" {
		layout = "maven-2-default"
	}
	body := object{
		{"key", rp.Key},
		{"packageType", rp.PackageType},
		{"description", rp.Description},
		{"notes", ""},
		{"includesPattern", "**/*"},
		{"excludesPattern", ""},
		{"repoLayoutRef", layout},
	}
	if rp.PackageType == "docker" {
		body = body.add("dockerApiVersion", "V2").add("maxUniqueTags", 0).add("blockPushingSchema1", true)
		if rp.Class == "local" || rp.Class == "federated" {
			body = body.add("dockerTagRetention", 1)
		}
	}
	switch rp.Class {
	case "remote":
		body = body.add("url", rp.URL).add("username", "").add("enableTokenAuthentication", rp.PackageType == "docker")
	case "virtual":
		body = body.add("repositories", append([]string{}, rp.Members...)).add("defaultDeploymentRepo", rp.DefaultDeploymentRepo)
	}
	body = body.add("blackedOut", false).
		add("propertySets", []string{}).
		add("archiveBrowsingEnabled", false).
		add("xrayIndex", false).
		add("downloadRedirect", false).
		add("cdnRedirect", false).
		add("priorityResolution", false).
		add("projectKey", "").
		add("environments", []string{}).
		add("rclass", rp.Class)
	class := strings.ToUpper(rp.Class[:1]) + rp.Class[1:]
	writePrettyJSON(w, http.StatusOK, "application/vnd.org.jfrog.artifactory.repositories."+class+"RepositoryConfiguration+json", body)
}
