package artifactorytest

import (
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// serveAQL is POST /api/search/aql: raw AQL text in the body (any or no
// Content-Type), answered with Artifactory's streaming framing.
func (s *Server) serveAQL(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticateREST(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	disabled := s.aqlDisabled
	s.mu.Unlock()
	if disabled != 0 {
		msg := http.StatusText(disabled)
		if disabled == http.StatusBadRequest {
			msg = "This REST API is available only in Artifactory Pro."
		}
		writeEnvelope(w, disabled, msg)
		return
	}
	if r.Method != http.MethodPost {
		writeEnvelope(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if p.anonymous {
		writeText(w, http.StatusForbidden, "Only non-anonymous users are allowed to access AQL queries\n")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeEnvelope(w, http.StatusBadRequest, "Bad Request")
		return
	}
	query := strings.TrimSpace(string(body))
	if query == "" {
		query = strings.TrimSpace(r.URL.Query().Get("query"))
	}
	if query == "" {
		writeEnvelope(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if s.aqlSlots != nil {
		t := time.NewTimer(s.cfg.aqlQueueWait)
		select {
		case s.aqlSlots <- struct{}{}:
			t.Stop()
			defer func() { <-s.aqlSlots }()
		case <-t.C:
			writeEnvelope(w, http.StatusTooManyRequests, "Too Many Requests")
			return
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	q, err := parseAQL(query, aqlEnv{now: s.cfg.clock(), tz: s.cfg.tz, physical: s.physicalForAQL})
	if err != nil {
		var ae *aqlError
		if errors.As(err, &ae) {
			writeText(w, http.StatusBadRequest, ae.msg)
			return
		}
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	if !p.admin && q.include != nil {
		have := map[string]bool{}
		for _, f := range q.include {
			have[strings.TrimPrefix(f, "item.")] = true
		}
		if !have["*"] && (!have["name"] || !have["repo"] || !have["path"]) {
			writeText(w, http.StatusBadRequest, "For permissions reasons AQL demands the following fields: repo, path and name.")
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, s.runAQL(q, p))
}

func (s *Server) physicalForAQL(key string) ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[key]
	if !ok || r.Class != "virtual" {
		return nil, false
	}
	return s.physicalKeysLocked(key, 0), true
}

type aqlRow struct {
	it   *item
	prop *prop
}

// runAQL evaluates q and renders the response. Like Artifactory, limit and
// offset apply to item x property rows when properties are included, and
// rows the caller cannot read are dropped after the limit.
func (s *Server) runAQL(q *aqlQuery, p principal) string {
	propsOn, propKeys, propPart, required := q.propertyOutput()
	s.mu.Lock()
	var items []*item
	for _, st := range s.stores {
		for rel, it := range st.items {
			if rel == "" {
				continue // repository root
			}
			if !q.hasType && it.folder {
				continue
			}
			if q.criteria != nil && !q.criteria(it) {
				continue
			}
			if !hasProps(it, required) {
				continue
			}
			cp := *it
			cp.props = append([]prop(nil), it.props...)
			items = append(items, &cp)
		}
	}
	virtualOf := map[string][]string{}
	if q.virtual || includes(q.include, "virtual_repos") {
		for _, k := range s.repoOrder {
			if r := s.repos[k]; r.Class == "virtual" {
				for _, phys := range s.physicalKeysLocked(k, 0) {
					virtualOf[phys] = append(virtualOf[phys], k)
				}
			}
		}
	}
	s.mu.Unlock()

	sort.Slice(items, func(i, j int) bool { return items[i].id < items[j].id })
	if len(q.sortFields) > 0 {
		sort.SliceStable(items, func(i, j int) bool {
			for _, f := range q.sortFields {
				c := compareField(items[i], items[j], f)
				if c == 0 {
					continue
				}
				if q.sortDir == "$desc" {
					return c > 0
				}
				return c < 0
			}
			return false
		})
	}

	var rows []aqlRow
	if propsOn {
		for _, it := range items {
			var ps []prop
			for _, pr := range it.props {
				if propKeys == nil || propKeys[pr.Key] {
					ps = append(ps, pr)
				}
			}
			if len(ps) == 0 {
				rows = append(rows, aqlRow{it: it})
				continue
			}
			for i := range ps {
				rows = append(rows, aqlRow{it: it, prop: &ps[i]})
			}
		}
	} else {
		for _, it := range items {
			rows = append(rows, aqlRow{it: it})
		}
	}
	start := q.offset
	if start > int64(len(rows)) {
		start = int64(len(rows))
	}
	rows = rows[start:]
	if q.hasLimit && q.limit < int64(len(rows)) {
		rows = rows[:q.limit]
	}

	fields := q.outputFields()
	var rendered []string
	readable := map[string]bool{}
	for i := 0; i < len(rows); {
		it := rows[i].it
		var ps []prop
		j := i
		for ; j < len(rows) && rows[j].it == it; j++ {
			if rows[j].prop != nil {
				ps = append(ps, *rows[j].prop)
			}
		}
		i = j
		ok, seen := readable[it.repo]
		if !seen {
			ok = s.canRead(p, it.repo)
			readable[it.repo] = ok
		}
		if !ok {
			continue
		}
		rendered = append(rendered, pretty(s.aqlRowObject(it, fields, propsOn, ps, propPart, virtualOf[it.repo])))
	}
	rng := object{{"start_pos", q.offset}, {"end_pos", len(rendered)}, {"total", len(rendered)}}
	if q.hasLimit {
		rng = rng.add("limit", q.limit)
	}
	var b strings.Builder
	b.WriteString("\n{\n\"results\" : [ ")
	b.WriteString(strings.Join(rendered, ","))
	b.WriteString(" ],\n\"range\" : ")
	b.WriteString(pretty(rng))
	b.WriteString("\n}\n")
	return b.String()
}

func includes(list []string, f string) bool {
	for _, x := range list {
		if x == f || x == "item."+f {
			return true
		}
	}
	return false
}

func hasProps(it *item, keys []string) bool {
	for _, k := range keys {
		if _, ok := it.prop(k); !ok {
			return false
		}
	}
	return true
}

func compareField(a, b *item, f string) int {
	switch itemFields[f] {
	case "d":
		return compareTime(dateField(a, f), dateField(b, f))
	case "n":
		return compareInt(numField(a, f), numField(b, f))
	}
	return strings.Compare(strField(a, f), strField(b, f))
}

func (s *Server) aqlRowObject(it *item, fields []string, propsOn bool, ps []prop, part string, virtuals []string) object {
	row := object{}
	for _, f := range fields {
		if f == "properties" {
			continue
		}
		switch f {
		case "size", "depth":
			row = row.add(f, numField(it, f))
		case "created", "modified", "updated":
			row = row.add(f, s.isoDate(dateField(it, f)))
		case "virtual_repos":
			v := virtuals
			if v == nil {
				v = []string{}
			}
			row = row.add(f, v)
		default:
			v := strField(it, f)
			if v == "" && f != "path" && f != "name" {
				continue // nulls are omitted
			}
			row = row.add(f, v)
		}
	}
	if propsOn && len(ps) > 0 {
		arr := make([]any, 0, len(ps))
		for _, pr := range ps {
			o := object{}
			if part != "value" {
				o = o.add("key", pr.Key)
			}
			if part != "key" {
				o = o.add("value", pr.Value)
			}
			arr = append(arr, o)
		}
		// Jackson orders the remaining fields alphabetically: "properties"
		// sits before "sha256" and "virtual_repos".
		idx := len(row)
		for i, f := range row {
			if f.Key > "properties" && !isFixedField(f.Key) {
				idx = i
				break
			}
		}
		row = append(row[:idx], append(object{{"properties", arr}}, row[idx:]...)...)
	}
	return row
}

func isFixedField(f string) bool {
	for _, x := range fixedOrder {
		if x == f {
			return true
		}
	}
	return false
}

// isoDate renders Joda's ISODateTimeFormat.dateTime() in the server time zone.
func (s *Server) isoDate(t time.Time) string {
	return t.In(s.cfg.tz).Format("2006-01-02T15:04:05.000Z07:00")
}
