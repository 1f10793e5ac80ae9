package artifactorytest

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// serveStorage is GET /api/storage/{repoKey}/{path}: item info, ?list,
// ?lastModified and ?properties.
func (s *Server) serveStorage(w http.ResponseWriter, r *http.Request, rest string) {
	p, ok := s.authenticateREST(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeEnvelope(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	key, rel, _ := strings.Cut(rest, "/")
	rel = strings.Trim(rel, "/")
	q := r.URL.Query()
	if key == "" {
		writeEnvelope(w, http.StatusNotFound, "Unable to find item")
		return
	}

	s.mu.Lock()
	rp, isRepo := s.repos[key]
	var class string
	if isRepo {
		class = rp.Class
	}
	_, isStore := s.stores[key]
	readable := s.canReadLocked(p, key, 0)
	s.mu.Unlock()

	if _, ok := q["lastModified"]; ok {
		if !isStore {
			writeEnvelope(w, http.StatusBadRequest, "This method can only be invoked on local/cached repositories.")
			return
		}
		if !readable {
			s.storageForbidden(w, p, key, rel)
			return
		}
		s.serveLastModified(w, key, rel)
		return
	}
	// Missing repository or a remote key (its content lives in <key>-cache).
	if !isStore && class != "virtual" {
		writeEnvelope(w, http.StatusNotFound, "Unable to find item")
		return
	}
	if !readable {
		s.storageForbidden(w, p, key, rel)
		return
	}
	if _, ok := q["list"]; ok {
		s.serveFileList(w, r, p, key, rel)
		return
	}
	it, children, phys := s.lookupItem(p, key, rel)
	if it == nil {
		if class == "virtual" {
			w.WriteHeader(http.StatusNotFound) // virtual miss: bare 404
			return
		}
		writeEnvelope(w, http.StatusNotFound, "Unable to find item")
		return
	}
	uri := s.BaseURL() + "/api/storage/" + key
	if rel != "" {
		uri += "/" + rel
	}
	if pk, ok := q["properties"]; ok {
		s.serveProperties(w, uri, it, pk)
		return
	}
	if it.folder {
		kids := make([]any, 0, len(children))
		for _, c := range children {
			kids = append(kids, object{{"uri", "/" + c.name}, {"folder", c.folder}})
		}
		body := object{
			{"uri", uri},
			{"repo", key},
			{"path", "/" + rel},
			{"created", s.isoDate(it.created)},
			{"createdBy", it.createdBy},
			{"lastModified", s.isoDate(it.modified)},
			{"modifiedBy", it.modifiedBy},
			{"lastUpdated", s.isoDate(it.updated)},
			{"children", kids},
		}
		writePrettyJSON(w, http.StatusOK, "application/vnd.org.jfrog.artifactory.storage.FolderInfo+json", body)
		return
	}
	body := object{
		{"uri", uri},
		{"downloadUri", s.BaseURL() + "/" + key + "/" + rel},
		{"repo", key},
		{"path", "/" + rel},
	}
	if strings.HasSuffix(phys, "-cache") {
		s.mu.Lock()
		remote := s.repos[strings.TrimSuffix(phys, "-cache")]
		s.mu.Unlock()
		if remote != nil {
			body = body.add("remoteUrl", strings.TrimSuffix(remote.URL, "/")+"/"+rel)
		}
	}
	body = body.add("created", s.isoDate(it.created)).
		add("createdBy", it.createdBy).
		add("lastModified", s.isoDate(it.modified)).
		add("modifiedBy", it.modifiedBy).
		add("lastUpdated", s.isoDate(it.updated)).
		add("size", strconv.FormatInt(it.size, 10)).
		add("mimeType", it.mimeType).
		add("checksums", object{{"sha1", it.sha1}, {"md5", it.md5}, {"sha256", it.sha256}}).
		add("originalChecksums", object{{"sha1", it.sha1}, {"md5", it.md5}, {"sha256", it.sha256}})
	writePrettyJSON(w, http.StatusOK, "application/vnd.org.jfrog.artifactory.storage.FileInfo+json", body)
}

func (s *Server) storageForbidden(w http.ResponseWriter, p principal, key, rel string) {
	name := p.name
	if name == "" {
		name = AnonymousUser
	}
	writeEnvelope(w, http.StatusForbidden, fmt.Sprintf("Request for '%s:%s' is forbidden for user: '%s'.", key, rel, name))
}

// lookupItem resolves rel in key (through a virtual's readable members) and
// returns a copy of the item, its children when it is a folder, and the
// physical repository it came from.
func (s *Server) lookupItem(p principal, key, rel string) (*item, []*item, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.readableKeysLocked(p, key)
	var found *item
	phys := ""
	childSet := map[string]*item{}
	for _, k := range keys {
		st := s.stores[k]
		it, ok := st.items[rel]
		if !ok {
			continue
		}
		if found == nil {
			cp := *it
			found, phys = &cp, k
		}
		if !it.folder || !found.folder {
			break
		}
		for _, c := range st.children(rel) {
			if _, dup := childSet[c.name]; !dup {
				cp := *c
				childSet[c.name] = &cp
			}
		}
	}
	if found == nil {
		return nil, nil, ""
	}
	children := make([]*item, 0, len(childSet))
	for _, c := range childSet {
		children = append(children, c)
	}
	sort.Slice(children, func(i, j int) bool { return children[i].name < children[j].name })
	return found, children, phys
}

func (s *Server) serveProperties(w http.ResponseWriter, uri string, it *item, want []string) {
	filter := map[string]bool{}
	for _, v := range want {
		for _, k := range strings.Split(v, ",") {
			if k != "" {
				filter[k] = true
			}
		}
	}
	props := object{}
	for _, pr := range it.props {
		if len(filter) > 0 && !filter[pr.Key] {
			continue
		}
		props = props.add(pr.Key, []string{pr.Value})
	}
	if len(props) == 0 {
		writeEnvelope(w, http.StatusNotFound, "No properties could be found.")
		return
	}
	writePrettyJSON(w, http.StatusOK, "application/vnd.org.jfrog.artifactory.storage.ItemProperties+json",
		object{{"properties", props}, {"uri", uri}})
}

// serveFileList is ?list with the 7.161.20 semantics: deep=1 is the only
// recursion trigger, depth limits it, folders only with listFolders=1,
// includeRootPath=1 adds "/" first, results sorted by path.
func (s *Server) serveFileList(w http.ResponseWriter, r *http.Request, p principal, key, rel string) {
	if p.anonymous {
		writeEnvelope(w, http.StatusForbidden, "This resource is available to authenticated users only.")
		return
	}
	q := r.URL.Query()
	params := map[string]int{}
	for _, name := range []string{"deep", "depth", "listFolders", "mdTimestamps", "includeRootPath"} {
		v := q.Get(name)
		if _, present := q[name]; !present {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			writeEnvelope(w, http.StatusBadRequest, fmt.Sprintf("For input string: \"%s\"", v))
			return
		}
		params[name] = n
	}
	it, _, _ := s.lookupItem(p, key, rel)
	if it == nil {
		writeEnvelope(w, http.StatusNotFound, "Unable to find item")
		return
	}
	if !it.folder {
		writeEnvelope(w, http.StatusBadRequest, fmt.Sprintf("Expected a folder but found a file, at: %s:%s", key, rel))
		return
	}
	deep := params["deep"] == 1
	maxDepth := 1
	if deep {
		maxDepth = 1 << 30
		if d, ok := params["depth"]; ok && d > 0 {
			maxDepth = d
		}
	}
	folders := params["listFolders"] == 1

	s.mu.Lock()
	type entry struct {
		rel string
		it  item
	}
	var entries []entry
	seen := map[string]bool{}
	for _, k := range s.readableKeysLocked(p, key) {
		for path2, c := range s.stores[k].items {
			if path2 == "" || path2 == rel {
				continue
			}
			sub := path2
			if rel != "" {
				if !strings.HasPrefix(path2, rel+"/") {
					continue
				}
				sub = strings.TrimPrefix(path2, rel+"/")
			}
			if strings.Count(sub, "/")+1 > maxDepth || (c.folder && !folders) || seen[sub] {
				continue
			}
			seen[sub] = true
			entries = append(entries, entry{sub, *c})
		}
	}
	s.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].rel < entries[j].rel })

	files := []any{}
	if params["includeRootPath"] == 1 {
		files = append(files, object{{"uri", "/"}, {"size", -1}, {"folder", true}})
	}
	for _, e := range entries {
		o := object{{"uri", "/" + e.rel}}
		if e.it.folder {
			o = o.add("size", -1).add("lastModified", s.isoDate(e.it.modified)).add("folder", true)
		} else {
			o = o.add("size", e.it.size).add("lastModified", s.isoDate(e.it.modified)).add("folder", false).
				add("sha1", e.it.sha1).add("sha2", e.it.sha256)
		}
		if params["mdTimestamps"] == 1 && len(e.it.props) > 0 {
			o = o.add("mdTimestamps", object{{"properties", s.isoDate(e.it.modified)}})
		}
		files = append(files, o)
	}
	uri := s.BaseURL() + "/api/storage/" + key
	if rel != "" {
		uri += "/" + rel
	}
	body := object{{"uri", uri}, {"created", s.isoDate(s.now())}, {"files", files}}
	writePrettyJSON(w, http.StatusOK, "application/vnd.org.jfrog.artifactory.storage.FileList+json", body)
}

// serveLastModified is ?lastModified: the most recently modified item under rel.
func (s *Server) serveLastModified(w http.ResponseWriter, key, rel string) {
	s.mu.Lock()
	st := s.stores[key]
	var latest *item
	latestRel := ""
	if _, ok := st.items[rel]; ok {
		for k, it := range st.items {
			if rel != "" && k != rel && !strings.HasPrefix(k, rel+"/") {
				continue
			}
			if latest == nil || it.modified.After(latest.modified) || (it.modified.Equal(latest.modified) && k > latestRel) {
				cp := *it
				latest, latestRel = &cp, k
			}
		}
	}
	s.mu.Unlock()
	if latest == nil {
		writeEnvelope(w, http.StatusNotFound, "Unable to find item")
		return
	}
	uri := s.BaseURL() + "/api/storage/" + key
	if latestRel != "" {
		uri += "/" + latestRel
	}
	w.Header().Set("Last-Modified", latest.modified.UTC().Format(http.TimeFormat))
	body := object{{"uri", uri}, {"lastModified", latest.modified.In(s.cfg.tz).Format("2006-01-02T15:04:05.000-0700")}}
	writePrettyJSON(w, http.StatusOK, "application/vnd.org.jfrog.artifactory.storage.ItemLastModified+json", body)
}
