package artifactorytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The AQL subset a Docker poller needs:
//   items.find(<criteria>).include(...).transitive().sort({"$asc"|"$desc":[...]}).offset(N).limit(N).distinct(b)
// with the chain order Artifactory enforces.

type aqlQuery struct {
	criteria   cond
	hasType    bool
	include    []string // nil: default fields
	sortDir    string   // "$asc" | "$desc" | ""
	sortFields []string
	offset     int64
	limit      int64
	hasLimit   bool
	virtual    bool // a criterion targets a virtual repository (virtual_repos is output)
}

// aqlError is a 400 answered with a plain-text body.
type aqlError struct{ msg string }

func (e *aqlError) Error() string { return e.msg }

func syntaxError(query, near string) error {
	return &aqlError{fmt.Sprintf("Failed to parse query: %s, it looks like there is syntax error near the following sub-query: %s", query, near)}
}

var itemFields = map[string]string{ // name -> kind (s string, n number, d date)
	"repo": "s", "path": "s", "name": "s", "type": "s", "size": "n", "depth": "n",
	"created": "d", "created_by": "s", "modified": "d", "modified_by": "s", "updated": "d",
	"sha256": "s", "actual_sha1": "s", "original_sha1": "s", "actual_md5": "s", "original_md5": "s",
	"virtual_repos": "s",
}

// defaultFields are the item fields output when include() is absent.
var defaultFields = []string{"repo", "path", "name", "type", "size", "created", "created_by", "modified", "modified_by", "updated"}

// chain ranks: include -> transitive -> sort -> offset -> limit -> distinct.
var chainRank = map[string]int{"include": 1, "transitive": 2, "sort": 3, "offset": 4, "limit": 5, "distinct": 6}

// aqlEnv gives the parser what it needs from the server.
type aqlEnv struct {
	now      time.Time
	tz       *time.Location
	physical func(key string) (keys []string, virtual bool)
}

func parseAQL(query string, env aqlEnv) (*aqlQuery, error) {
	p := &aqlParser{src: query}
	q := &aqlQuery{}
	p.skipSpace()
	if !p.consumeWord("items") || !p.consume(".") || !p.consumeWord("find") || !p.consume("(") {
		return nil, syntaxError(query, p.rest())
	}
	p.skipSpace()
	if !p.peek(")") {
		v, err := p.jsonValue()
		if err != nil {
			return nil, syntaxError(query, p.rest())
		}
		obj, ok := v.(object)
		if !ok {
			return nil, syntaxError(query, p.rest())
		}
		c, err := compileObject(obj, q, env)
		if err != nil {
			return nil, err
		}
		q.criteria = c
	}
	if !p.consume(")") {
		return nil, syntaxError(query, p.rest())
	}
	rank := 0
	for {
		p.skipSpace()
		if p.eof() {
			break
		}
		at := p.rest()
		if !p.consume(".") {
			return nil, syntaxError(query, at)
		}
		p.skipSpace()
		word := p.word()
		r, known := chainRank[word]
		if !known || r <= rank || !p.consume("(") {
			return nil, syntaxError(query, at)
		}
		rank = r
		switch word {
		case "include":
			q.include = []string{}
			for {
				p.skipSpace()
				if p.peek(")") {
					break
				}
				v, err := p.jsonValue()
				str, ok := v.(string)
				if err != nil || !ok {
					return nil, syntaxError(query, at)
				}
				if !validInclude(str) {
					return nil, syntaxError(query, at)
				}
				q.include = append(q.include, str)
				p.skipSpace()
				if !p.consume(",") {
					break
				}
			}
		case "transitive":
		case "sort":
			v, err := p.jsonValue()
			obj, ok := v.(object)
			if err != nil || !ok || len(obj) != 1 || (obj[0].Key != "$asc" && obj[0].Key != "$desc") {
				return nil, syntaxError(query, at)
			}
			arr, ok := obj[0].Val.([]any)
			if !ok || len(arr) == 0 {
				return nil, syntaxError(query, at)
			}
			q.sortDir = obj[0].Key
			for _, e := range arr {
				f, ok := e.(string)
				if !ok {
					return nil, syntaxError(query, at)
				}
				q.sortFields = append(q.sortFields, f)
			}
		case "offset", "limit":
			v, err := p.jsonValue()
			n, ok := v.(json.Number)
			if err != nil || !ok {
				return nil, syntaxError(query, at)
			}
			i, err := n.Int64()
			if err != nil || i < 0 {
				return nil, syntaxError(query, at)
			}
			if word == "offset" {
				q.offset = i
			} else {
				q.limit, q.hasLimit = i, true
			}
		case "distinct":
			v, err := p.jsonValue()
			if _, ok := v.(bool); err != nil || !ok {
				return nil, syntaxError(query, at)
			}
		}
		if !p.consume(")") {
			return nil, syntaxError(query, at)
		}
	}
	// Sort fields must be output fields.
	if len(q.sortFields) > 0 {
		out := map[string]bool{}
		for _, f := range q.outputFields() {
			out[f] = true
		}
		for _, f := range q.sortFields {
			if !out[f] {
				return nil, &aqlError{"Only the result fields are allowed to use in the sort section."}
			}
		}
	}
	return q, nil
}

func validInclude(f string) bool {
	if f == "*" || strings.HasPrefix(f, "@") {
		return len(f) > 1 || f == "*"
	}
	switch f {
	case "property", "property.*", "property.key", "property.value", "stat", "stat.*", "stat.downloads", "stat.downloaded", "stat.downloaded_by":
		return true
	}
	if strings.HasPrefix(f, "item.") {
		f = strings.TrimPrefix(f, "item.")
	}
	_, ok := itemFields[f]
	return ok
}

// outputFields lists the item fields a row carries, in Artifactory's order.
func (q *aqlQuery) outputFields() []string {
	set := map[string]bool{}
	if q.include == nil {
		for _, f := range defaultFields {
			set[f] = true
		}
	} else {
		any := false
		for _, f := range q.include {
			f = strings.TrimPrefix(f, "item.")
			if f == "*" {
				for k := range itemFields {
					if k != "virtual_repos" {
						set[k] = true
					}
				}
				any = true
			} else if _, ok := itemFields[f]; ok {
				set[f] = true
				any = true
			}
		}
		if !any {
			for _, f := range defaultFields {
				set[f] = true
			}
		}
	}
	if q.virtual {
		set["virtual_repos"] = true
	}
	return orderFields(set)
}

var fixedOrder = []string{"repo", "path", "name", "type", "size", "created", "created_by", "modified", "modified_by", "updated", "depth"}

func orderFields(set map[string]bool) []string {
	var out []string
	for _, f := range fixedOrder {
		if set[f] {
			out = append(out, f)
			delete(set, f)
		}
	}
	return append(out, sortedKeys(set)...)
}

// propertyOutput reports whether rows carry properties, which keys (nil = all),
// whether only key or value is shown, and which keys an item must have.
func (q *aqlQuery) propertyOutput() (on bool, keys map[string]bool, part string, required []string) {
	all := false
	for _, f := range q.include {
		switch {
		case f == "property" || f == "property.*":
			on, all = true, true
		case f == "property.key" || f == "property.value":
			on, all = true, true
			if part == "" {
				part = strings.TrimPrefix(f, "property.")
			} else if part != strings.TrimPrefix(f, "property.") {
				part = "both"
			}
		case strings.HasPrefix(f, "@"):
			on = true
			if keys == nil {
				keys = map[string]bool{}
			}
			keys[f[1:]] = true
			required = append(required, f[1:])
		}
	}
	if all {
		keys = nil
	}
	if part == "both" {
		part = ""
	}
	return on, keys, part, required
}

// --- criteria ---

type cond func(it *item) bool

func and(cs []cond) cond {
	return func(it *item) bool {
		for _, c := range cs {
			if !c(it) {
				return false
			}
		}
		return true
	}
}

func or(cs []cond) cond {
	return func(it *item) bool {
		for _, c := range cs {
			if c(it) {
				return true
			}
		}
		return false
	}
}

func compileObject(obj object, q *aqlQuery, env aqlEnv) (cond, error) {
	var cs []cond
	for _, f := range obj {
		c, err := compileField(f.Key, f.Val, q, env)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return and(cs), nil
}

func compileList(v any, q *aqlQuery, env aqlEnv) ([]cond, error) {
	var elems []any
	switch t := v.(type) {
	case []any:
		elems = t
	case object:
		for _, f := range t {
			elems = append(elems, object{f})
		}
	default:
		return nil, &aqlError{"Failed to parse query: $and/$or expect an array or an object"}
	}
	var cs []cond
	for _, e := range elems {
		obj, ok := e.(object)
		if !ok {
			return nil, &aqlError{"Failed to parse query: $and/$or elements must be objects"}
		}
		c, err := compileObject(obj, q, env)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func compileField(key string, val any, q *aqlQuery, env aqlEnv) (cond, error) {
	switch key {
	case "$and", "$msp":
		cs, err := compileList(val, q, env)
		if err != nil {
			return nil, err
		}
		return and(cs), nil
	case "$or":
		cs, err := compileList(val, q, env)
		if err != nil {
			return nil, err
		}
		return or(cs), nil
	}
	ops, err := operators(val)
	if err != nil {
		return nil, err
	}
	var cs []cond
	for _, op := range ops {
		c, err := compileOp(key, op.Key, op.Val, q, env)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return and(cs), nil
}

// operators turns a short-form value into [{"$eq": v}].
func operators(val any) (object, error) {
	if obj, ok := val.(object); ok {
		for _, f := range obj {
			if !strings.HasPrefix(f.Key, "$") {
				return nil, &aqlError{fmt.Sprintf("Failed to parse query: unexpected key %q in a criterion", f.Key)}
			}
		}
		return obj, nil
	}
	return object{{"$eq", val}}, nil
}

var knownOps = map[string]bool{"$eq": true, "$ne": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true,
	"$match": true, "$nmatch": true, "$last": true, "$before": true}

func compileOp(field, op string, val any, q *aqlQuery, env aqlEnv) (cond, error) {
	if !knownOps[op] {
		return nil, &aqlError{fmt.Sprintf("Failed to parse query: unknown operator %s", op)}
	}
	if strings.HasPrefix(field, "@") || field == "property.key" || field == "property.value" {
		return compilePropertyOp(field, op, val)
	}
	name := strings.TrimPrefix(field, "item.")
	kind, ok := itemFields[name]
	if !ok {
		return nil, &aqlError{fmt.Sprintf("Failed to parse query: unknown field %s", field)}
	}
	if name == "type" {
		q.hasType = true
		s := scalarString(val)
		if s == "any" && op == "$eq" {
			return func(*item) bool { return true }, nil
		}
	}
	if name == "repo" && op == "$eq" {
		keys, virtual := env.physical(scalarString(val))
		if virtual {
			q.virtual = true
			set := map[string]bool{}
			for _, k := range keys {
				set[k] = true
			}
			return func(it *item) bool { return set[it.repo] }, nil
		}
	}
	switch kind {
	case "d":
		var bound time.Time
		switch op {
		case "$last", "$before":
			d, err := relativeDuration(scalarString(val))
			if err != nil {
				return nil, err
			}
			bound = env.now.Add(-d)
			if op == "$last" {
				op = "$gte"
			} else {
				op = "$lt"
			}
		case "$match", "$nmatch":
			return nil, &aqlError{fmt.Sprintf("Failed to parse query: %s is not supported on date field %s", op, name)}
		default:
			t, err := parseAQLDate(val, env.tz)
			if err != nil {
				return nil, err
			}
			bound = t
		}
		return func(it *item) bool { return cmpOp(op, compareTime(dateField(it, name), bound)) }, nil
	case "n":
		n, err := strconv.ParseInt(scalarString(val), 10, 64)
		if err != nil {
			return nil, &aqlError{fmt.Sprintf("Failed to parse query: %s expects a number, got %v", name, val)}
		}
		if op == "$match" || op == "$nmatch" || op == "$last" || op == "$before" {
			return nil, &aqlError{fmt.Sprintf("Failed to parse query: %s is not supported on field %s", op, name)}
		}
		return func(it *item) bool { return cmpOp(op, compareInt(numField(it, name), n)) }, nil
	default:
		s := scalarString(val)
		switch op {
		case "$match", "$nmatch":
			re := wildcard(s)
			neg := op == "$nmatch"
			return func(it *item) bool { return re.MatchString(strField(it, name)) != neg }, nil
		case "$last", "$before":
			return nil, &aqlError{fmt.Sprintf("Failed to parse query: %s is not supported on field %s", op, name)}
		}
		return func(it *item) bool { return cmpOp(op, strings.Compare(strField(it, name), s)) }, nil
	}
}

func compilePropertyOp(field, op string, val any) (cond, error) {
	s := scalarString(val)
	if op == "$last" || op == "$before" {
		return nil, &aqlError{fmt.Sprintf("Failed to parse query: %s is not supported on properties", op)}
	}
	positive, negate := op, false
	switch op {
	case "$ne":
		positive, negate = "$eq", true
	case "$nmatch":
		positive, negate = "$match", true
	}
	test := func(v string) bool {
		if positive == "$match" {
			return wildcard(s).MatchString(v)
		}
		return cmpOp(positive, strings.Compare(v, s))
	}
	switch field {
	case "property.key":
		return func(it *item) bool {
			found := false
			for _, p := range it.props {
				if test(p.Key) {
					found = true
					break
				}
			}
			return found != negate
		}, nil
	case "property.value":
		return func(it *item) bool {
			found := false
			for _, p := range it.props {
				if test(p.Value) {
					found = true
					break
				}
			}
			return found != negate
		}, nil
	}
	keyRe := wildcard(field[1:])
	return func(it *item) bool {
		found := false
		for _, p := range it.props {
			if keyRe.MatchString(p.Key) && test(p.Value) {
				found = true
				break
			}
		}
		return found != negate
	}, nil
}

func cmpOp(op string, c int) bool {
	switch op {
	case "$eq":
		return c == 0
	case "$ne":
		return c != 0
	case "$gt":
		return c > 0
	case "$gte":
		return c >= 0
	case "$lt":
		return c < 0
	case "$lte":
		return c <= 0
	}
	return false
}

func compareTime(a, b time.Time) int {
	switch {
	case a.Before(b):
		return -1
	case a.After(b):
		return 1
	}
	return 0
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func wildcard(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func strField(it *item, name string) string {
	switch name {
	case "repo":
		return it.repo
	case "path":
		return it.folderPath
	case "name":
		return it.name
	case "type":
		if it.folder {
			return "folder"
		}
		return "file"
	case "created_by":
		return it.createdBy
	case "modified_by":
		return it.modifiedBy
	case "sha256":
		return it.sha256
	case "actual_sha1", "original_sha1":
		return it.sha1
	case "actual_md5", "original_md5":
		return it.md5
	}
	return ""
}

func numField(it *item, name string) int64 {
	if name == "depth" {
		return int64(strings.Count(it.relPath(), "/") + 1)
	}
	if it.folder {
		return 0
	}
	return it.size
}

func dateField(it *item, name string) time.Time {
	switch name {
	case "created":
		return it.created
	case "modified":
		return it.modified
	}
	return it.updated
}

var relUnits = []struct {
	suffix string
	d      time.Duration
}{
	{"minutes", time.Minute}, {"seconds", time.Second}, {"mills", time.Millisecond}, {"months", 30 * 24 * time.Hour},
	{"weeks", 7 * 24 * time.Hour}, {"years", 365 * 24 * time.Hour}, {"days", 24 * time.Hour},
	{"ms", time.Millisecond}, {"mo", 30 * 24 * time.Hour}, {"s", time.Second}, {"d", 24 * time.Hour},
	{"w", 7 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour},
}

func relativeDuration(v string) (time.Duration, error) {
	for _, u := range relUnits {
		if strings.HasSuffix(v, u.suffix) {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), 10, 64)
			if err == nil {
				return time.Duration(n) * u.d, nil
			}
		}
	}
	return 0, &aqlError{fmt.Sprintf("Failed to parse query: invalid relative time %q", v)}
}

// isoDate is Joda's dateOptionalTimeParser: yyyy[-MM[-dd]][THH[:mm[:ss[.SSS]]]][Z|±HH[:]mm].
var isoDate = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$`)

// parseAQLDate accepts ISO-8601 with partial precision (no offset = server
// time zone) or epoch milliseconds.
func parseAQLDate(v any, tz *time.Location) (time.Time, error) {
	s := scalarString(v)
	bad := &aqlError{fmt.Sprintf("Invalid Date format: %s, AQL expect ISODateTimeFormat or long number", s)}
	if s == "" {
		return time.Time{}, bad
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && (len(s) != 4 || strings.HasPrefix(s, "-")) {
		return time.UnixMilli(ms), nil
	}
	m := isoDate.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, bad
	}
	num := func(i, def int) int {
		if m[i] == "" {
			return def
		}
		n, _ := strconv.Atoi(m[i])
		return n
	}
	nanos := 0
	if m[7] != "" {
		frac := (m[7] + "000")[:3]
		ms, _ := strconv.Atoi(frac)
		nanos = ms * int(time.Millisecond)
	}
	loc := tz
	if off := m[8]; off != "" {
		if off == "Z" {
			loc = time.UTC
		} else {
			sign := 1
			if off[0] == '-' {
				sign = -1
			}
			digits := strings.ReplaceAll(off[1:], ":", "")
			h, _ := strconv.Atoi(digits[:2])
			mi := 0
			if len(digits) >= 4 {
				mi, _ = strconv.Atoi(digits[2:4])
			}
			loc = time.FixedZone(off, sign*(h*3600+mi*60))
		}
	}
	mon, day, hour, min, sec := num(2, 1), num(3, 1), num(4, 0), num(5, 0), num(6, 0)
	if mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, bad
	}
	t := time.Date(num(1, 0), time.Month(mon), day, hour, min, sec, nanos, loc)
	if t.Day() != day {
		return time.Time{}, bad
	}
	return t, nil
}

// --- tokenizer ---

type aqlParser struct {
	src string
	pos int
}

func (p *aqlParser) eof() bool    { return p.pos >= len(p.src) }
func (p *aqlParser) rest() string { return p.src[min(p.pos, len(p.src)):] }

func (p *aqlParser) skipSpace() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
}

func (p *aqlParser) peek(tok string) bool {
	p.skipSpace()
	return strings.HasPrefix(p.rest(), tok)
}

func (p *aqlParser) consume(tok string) bool {
	if p.peek(tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *aqlParser) word() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.src) && (unicode.IsLetter(rune(p.src[p.pos])) || p.src[p.pos] == '_') {
		p.pos++
	}
	return p.src[start:p.pos]
}

func (p *aqlParser) consumeWord(w string) bool {
	save := p.pos
	if p.word() == w {
		return true
	}
	p.pos = save
	return false
}

// jsonValue decodes one JSON value at the cursor, keeping object key order
// (and duplicate keys).
func (p *aqlParser) jsonValue() (any, error) {
	p.skipSpace()
	dec := json.NewDecoder(strings.NewReader(p.rest()))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		return nil, err
	}
	p.pos += int(dec.InputOffset())
	return v, nil
}

func decodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key")
				}
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				obj = append(obj, field{k, v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, io.ErrUnexpectedEOF
	default:
		return t, nil
	}
}
