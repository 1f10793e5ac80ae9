package artifactorytest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

type aqlResponse struct {
	Results []map[string]any `json:"results"`
	Range   map[string]int   `json:"range"`
}

func aql(t *testing.T, s *Server, auth func(*http.Request), query string) aqlResponse {
	t.Helper()
	r := call(t, "POST", s.BaseURL()+"/api/search/aql", query, auth)
	if r.status != 200 {
		t.Fatalf("aql %s: %d %s", query, r.status, r.body)
	}
	var out aqlResponse
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatalf("aql body: %v\n%s", err, r.body)
	}
	return out
}

func paths(res aqlResponse) []string {
	var out []string
	for _, r := range res.Results {
		out = append(out, fmt.Sprintf("%s:%s/%s", r["repo"], r["path"], r["name"]))
	}
	return out
}

func TestAQLFramingExact(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC))
	s := NewTest(t, WithClock(clock.Now))
	s.AddRepository(Repository{Key: "docker-local"})
	ctx := context.Background()
	d1, err := s.PushImage(ctx, "docker-local", "app", "1.0", randomImage(t))
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(1500 * time.Millisecond)
	d2, err := s.PushImage(ctx, "docker-local", "app", "2.0", randomImage(t))
	if err != nil {
		t.Fatal(err)
	}
	r := call(t, "POST", s.BaseURL()+"/api/search/aql",
		`items.find({"repo":"docker-local","name":"manifest.json"}).include("repo","path","name","created","modified","sha256").sort({"$asc":["modified"]}).limit(10)`, admin)
	row := func(tag, ts, digest string) string {
		return "{\n  \"repo\" : \"docker-local\",\n  \"path\" : \"app/" + tag + "\",\n  \"name\" : \"manifest.json\",\n" +
			"  \"created\" : \"" + ts + "\",\n  \"modified\" : \"" + ts + "\",\n  \"sha256\" : \"" + strings.TrimPrefix(digest, "sha256:") + "\"\n}"
	}
	want := "\n{\n\"results\" : [ " + row("1.0", "2026-03-01T10:00:00.123Z", d1) + "," + row("2.0", "2026-03-01T10:00:01.623Z", d2) +
		" ],\n\"range\" : {\n  \"start_pos\" : 0,\n  \"end_pos\" : 2,\n  \"total\" : 2,\n  \"limit\" : 10\n}\n}\n"
	expect(t, r, 200, want)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}

	// Empty result and no limit: "[  ]" and no "limit" key.
	r = call(t, "POST", s.BaseURL()+"/api/search/aql", `items.find({"repo":"does-not-exist"})`, admin)
	expect(t, r, 200, "\n{\n\"results\" : [  ],\n\"range\" : {\n  \"start_pos\" : 0,\n  \"end_pos\" : 0,\n  \"total\" : 0\n}\n}\n")
}

func TestAQLDefaultFieldsPropertiesAndTypes(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	s := NewTest(t, WithClock(clock.Now))
	s.AddRepository(Repository{Key: "docker-local"})
	digest, err := s.PushImage(context.Background(), "docker-local", "team/app", "v1", randomImage(t))
	if err != nil {
		t.Fatal(err)
	}
	res := aql(t, s, admin, `items.find({"name":"manifest.json"})`)
	if len(res.Results) != 1 {
		t.Fatalf("results %v", res.Results)
	}
	got := res.Results[0]
	for _, k := range defaultFields {
		if _, ok := got[k]; !ok {
			t.Errorf("default field %s missing: %v", k, got)
		}
	}
	if got["type"] != "file" || got["created_by"] != "admin" || got["path"] != "team/app/v1" {
		t.Errorf("row %v", got)
	}
	if _, ok := got["properties"]; ok {
		t.Error("properties present without include")
	}
	if _, isNum := got["size"].(float64); !isNum {
		t.Errorf("size must be a JSON number: %T", got["size"])
	}

	res = aql(t, s, admin, `items.find({"name":"manifest.json"}).include("repo","path","name","property.*")`)
	props := map[string]string{}
	for _, p := range res.Results[0]["properties"].([]any) {
		m := p.(map[string]any)
		props[m["key"].(string)] = m["value"].(string)
	}
	want := map[string]string{
		"docker.manifest": "v1", "docker.repoName": "team/app", "docker.manifest.digest": digest,
		"docker.manifest.type": "application/vnd.docker.distribution.manifest.v2+json", "sha256": strings.TrimPrefix(digest, "sha256:"),
	}
	if fmt.Sprint(props) != fmt.Sprint(want) {
		t.Fatalf("properties %v\nwant %v", props, want)
	}

	// Files only unless type is given; layers are sha256__ files in the tag folder.
	files := aql(t, s, admin, `items.find({"repo":"docker-local"}).include("name","repo","path","type")`)
	for _, r := range files.Results {
		if r["type"] != "file" {
			t.Fatalf("folder without type criterion: %v", r)
		}
	}
	if len(files.Results) != 4 { // manifest.json + config + 2 layers
		t.Fatalf("files: %v", paths(files))
	}
	folders := aql(t, s, admin, `items.find({"repo":"docker-local","type":"folder"}).include("name","repo","path")`)
	if got := paths(folders); fmt.Sprint(got) != "[docker-local:./team docker-local:team/app docker-local:team/app/v1]" {
		t.Fatalf("folders: %v", got)
	}
	anyType := aql(t, s, admin, `items.find({"repo":"docker-local","type":"any"})`)
	if len(anyType.Results) != 7 {
		t.Fatalf("any: %v", paths(anyType))
	}
	// @key include filters out items lacking the property and shows only that property.
	withProp := aql(t, s, admin, `items.find({"repo":"docker-local"}).include("repo","path","name","@docker.manifest")`)
	if len(withProp.Results) != 1 || len(withProp.Results[0]["properties"].([]any)) != 1 {
		t.Fatalf("@docker.manifest include: %v", withProp.Results)
	}
}

func TestAQLCriteria(t *testing.T) {
	loc := time.FixedZone("UTC+2", 2*3600)
	clock := newFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	s := NewTest(t, WithClock(clock.Now), WithTimeZone(loc))
	s.AddRepository(Repository{Key: "a"})
	s.AddRepository(Repository{Key: "b"})
	ctx := context.Background()
	for i, tag := range []string{"1.0", "1.1", "2.0"} {
		clock.Set(time.Date(2026, 3, 1, 10+i, 0, 0, 0, time.UTC))
		if _, err := s.PushImage(ctx, "a", "app", tag, randomImage(t)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	if _, err := s.PushImage(ctx, "b", "tool", "latest", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	manifests := `"name":"manifest.json"`
	cases := map[string]string{
		`{` + manifests + `,"repo":"a","@docker.manifest":{"$match":"1.*"}}`:                                      "[a:app/1.0/manifest.json a:app/1.1/manifest.json]",
		`{` + manifests + `,"@docker.manifest":{"$nmatch":"1.?"}}`:                                                "[a:app/2.0/manifest.json b:tool/latest/manifest.json]",
		`{"$and":[{` + manifests + `},{"$or":[{"repo":"b"},{"path":"app/1.1"}]}]}`:                                "[a:app/1.1/manifest.json b:tool/latest/manifest.json]",
		`{` + manifests + `,"modified":{"$gt":"2026-03-01T10:00:00Z"},"modified":{"$lt":"2026-03-01T12:00:00Z"}}`: "[a:app/1.1/manifest.json]",
		// No offset: server time zone (UTC+2), so 13:00 local is 11:00Z.
		`{` + manifests + `,"modified":{"$gte":"2026-03-01T13:00"}}`: "[a:app/1.1/manifest.json a:app/2.0/manifest.json b:tool/latest/manifest.json]",
		// Partial precision: a date alone.
		`{` + manifests + `,"created":{"$gte":"2026-03-02"}}`: "[b:tool/latest/manifest.json]",
		// Epoch milliseconds.
		fmt.Sprintf(`{`+manifests+`,"updated":{"$lte":%d}}`, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).UnixMilli()): "[a:app/1.0/manifest.json]",
		`{` + manifests + `,"repo":{"$ne":"a"}}`:    "[b:tool/latest/manifest.json]",
		`{` + manifests + `,"docker.manifest":"x"}`: "error",
	}
	for crit, want := range cases {
		r := call(t, "POST", s.BaseURL()+"/api/search/aql", "items.find("+crit+").include(\"repo\",\"path\",\"name\")", admin)
		if want == "error" {
			if r.status != 400 {
				t.Errorf("%s: %d, want 400", crit, r.status)
			}
			continue
		}
		var res aqlResponse
		if err := json.Unmarshal([]byte(r.body), &res); err != nil {
			t.Fatalf("%s: %d %s", crit, r.status, r.body)
		}
		if got := fmt.Sprint(paths(res)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", crit, got, want)
		}
	}
	// Dates are rendered in the server time zone.
	res := aql(t, s, admin, `items.find({"repo":"b","name":"manifest.json"}).include("repo","path","name","modified")`)
	if res.Results[0]["modified"] != "2026-03-02T02:00:00.000+02:00" {
		t.Fatalf("modified rendered as %v", res.Results[0]["modified"])
	}
	expect(t, call(t, "POST", s.BaseURL()+"/api/search/aql", `items.find({"modified":{"$gt":"yesterday"}})`, admin), 400,
		"Invalid Date format: yesterday, AQL expect ISODateTimeFormat or long number")
}

func TestAQLRequestHandling(t *testing.T) {
	s := NewTest(t, WithAnonymousAccess(false))
	s.AddRepository(Repository{Key: "a"})
	url := s.BaseURL() + "/api/search/aql"
	q := `items.find({"repo":"a"})`
	expect(t, call(t, "POST", url, q, nil), 401, envelope(401, "Authentication is required"))
	if r := call(t, "POST", url, q, header("Content-Type", "text/plain")); r.status != 401 {
		t.Fatal(r.status)
	}
	if r := call(t, "POST", url, q, func(r *http.Request) { admin(r); r.Header.Set("Content-Type", "text/plain") }); r.status != 200 {
		t.Fatalf("text/plain: %d", r.status)
	}
	if r := call(t, "POST", url, q, admin); r.status != 200 { // no Content-Type
		t.Fatalf("no content type: %d", r.status)
	}
	expect(t, call(t, "POST", url, "", admin), 400, envelope(400, "Bad Request"))
	if r := call(t, "POST", url+"?query="+strings.ReplaceAll(q, `"`, "%22"), "", admin); r.status != 200 {
		t.Fatalf("?query= fallback: %d %s", r.status, r.body)
	}
	bad := `items.find({"repo":"a"}).limit(1).sort({"$asc":["name"]})`
	r := call(t, "POST", url, bad, admin)
	if r.status != 400 || !strings.HasPrefix(r.body, "Failed to parse query: "+bad+", it looks like there is syntax error near the following sub-query: .sort(") {
		t.Fatalf("chain order: %d %q", r.status, r.body)
	}
	expect(t, call(t, "POST", url, `items.find({"repo":"a"}).include("name","repo","path").sort({"$asc":["modified"]})`, admin), 400,
		"Only the result fields are allowed to use in the sort section.")
	if r := call(t, "POST", url, `builds.find()`, admin); r.status != 400 || !strings.HasPrefix(r.body, "Failed to parse query: ") {
		t.Fatalf("builds domain: %d %q", r.status, r.body)
	}

	s.AddUser(User{Name: "dev", Password: "pw"})
	expect(t, call(t, "POST", url, `items.find({"repo":"a"}).include("name","repo")`, basic("dev", "pw")), 400,
		"For permissions reasons AQL demands the following fields: repo, path and name.")
	if r := call(t, "POST", url, `items.find({"repo":"a"}).include("name","repo","path","modified")`, basic("dev", "pw")); r.status != 200 {
		t.Fatalf("non-admin with repo/path/name: %d", r.status)
	}

	s.DisableAQL(403)
	expect(t, call(t, "POST", url, q, admin), 403, envelope(403, "Forbidden"))
	s.DisableAQL(0)
	if r := call(t, "POST", url, q, admin); r.status != 200 {
		t.Fatalf("re-enabled: %d", r.status)
	}
}

// Limit and offset apply to item x property rows: a page can hold fewer
// items than the limit, and the last item's properties are truncated.
func TestAQLLimitOnJoinedRowsQuirk(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "a"})
	for _, tag := range []string{"1", "2", "3"} {
		if _, err := s.PushImage(context.Background(), "a", "app", tag, randomImage(t)); err != nil {
			t.Fatal(err)
		}
	}
	q := `items.find({"name":"manifest.json"}).include("repo","path","name","property.*").limit(7)`
	res := aql(t, s, admin, q)
	if len(res.Results) != 2 {
		t.Fatalf("want 2 items for 7 joined rows (5 properties each), got %v", paths(res))
	}
	if n := len(res.Results[0]["properties"].([]any)); n != 5 {
		t.Fatalf("first item has %d properties", n)
	}
	if n := len(res.Results[1]["properties"].([]any)); n != 2 {
		t.Fatalf("second item's properties should be truncated to 2, got %d", n)
	}
	if res.Range["end_pos"] != 2 || res.Range["total"] != 2 || res.Range["limit"] != 7 {
		t.Fatalf("range %v", res.Range)
	}
	// Without properties the limit counts items.
	if res := aql(t, s, admin, `items.find({"name":"manifest.json"}).include("repo","path","name").limit(2)`); len(res.Results) != 2 {
		t.Fatalf("plain limit: %v", paths(res))
	}
}

// Permission filtering happens after the limit: unreadable rows are dropped
// from the page, so a page can be empty although readable items exist.
func TestAQLPermissionAfterLimitQuirk(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "secret"})
	s.AddRepository(Repository{Key: "open"})
	s.AddUser(User{Name: "dev", Password: "pw"})
	s.Grant("dev", "open")
	ctx := context.Background()
	for _, repo := range []string{"secret", "secret", "open", "open"} {
		if _, err := s.PushImage(ctx, repo, "app", fmt.Sprint(time.Now().UnixNano()), randomImage(t)); err != nil {
			t.Fatal(err)
		}
	}
	base := `items.find({"name":"manifest.json"}).include("repo","path","name")`
	first := aql(t, s, basic("dev", "pw"), base+`.limit(2)`)
	if len(first.Results) != 0 || first.Range["total"] != 0 || first.Range["limit"] != 2 {
		t.Fatalf("first page should be emptied by permissions: %v %v", paths(first), first.Range)
	}
	second := aql(t, s, basic("dev", "pw"), base+`.offset(2).limit(2)`)
	if len(second.Results) != 2 || second.Results[0]["repo"] != "open" || second.Range["start_pos"] != 2 {
		t.Fatalf("second page: %v %v", paths(second), second.Range)
	}
	if all := aql(t, s, admin, base+`.limit(2)`); len(all.Results) != 2 || all.Results[0]["repo"] != "secret" {
		t.Fatalf("admin: %v", paths(all))
	}
}

func TestAQLVirtualRepository(t *testing.T) {
	s := NewTest(t)
	s.AddRepository(Repository{Key: "a"})
	s.AddRepository(Repository{Key: "b"})
	s.AddRepository(Repository{Key: "other"})
	s.AddRepository(Repository{Key: "v", Class: "virtual", Members: []string{"a", "b"}})
	ctx := context.Background()
	for _, k := range []string{"a", "b", "other"} {
		if _, err := s.PushImage(ctx, k, "app", "1", randomImage(t)); err != nil {
			t.Fatal(err)
		}
	}
	res := aql(t, s, admin, `items.find({"repo":"v","name":"manifest.json"}).include("repo","path","name")`)
	if got := fmt.Sprint(paths(res)); got != "[a:app/1/manifest.json b:app/1/manifest.json]" {
		t.Fatalf("virtual: %s", got)
	}
	if vr, ok := res.Results[0]["virtual_repos"].([]any); !ok || len(vr) != 1 || vr[0] != "v" {
		t.Fatalf("virtual_repos: %v", res.Results[0])
	}
}

func TestTimestampsSameMillisecondAndRepush(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 500_000_000, time.UTC))
	s := NewTest(t, WithClock(clock.Now))
	s.AddRepository(Repository{Key: "a"})
	ctx := context.Background()
	for _, tag := range []string{"x", "y"} {
		if _, err := s.PushImage(ctx, "a", "app", tag, randomImage(t)); err != nil {
			t.Fatal(err)
		}
	}
	q := `items.find({"name":"manifest.json"}).include("repo","path","name","created","modified","updated").sort({"$asc":["path"]})`
	res := aql(t, s, admin, q)
	if len(res.Results) != 2 || res.Results[0]["modified"] != res.Results[1]["modified"] {
		t.Fatalf("same-millisecond pushes: %v", res.Results)
	}
	clock.Add(2 * time.Second)
	if _, err := s.PushImage(ctx, "a", "app", "x", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	res = aql(t, s, admin, q)
	x := res.Results[0]
	if x["created"] != "2026-03-01T10:00:00.500Z" || x["modified"] != "2026-03-01T10:00:02.500Z" || x["updated"] != "2026-03-01T10:00:02.500Z" {
		t.Fatalf("re-push: %v", x)
	}
	after := aql(t, s, admin, `items.find({"name":"manifest.json","modified":{"$gt":"2026-03-01T10:00:00.500Z"}}).include("repo","path","name")`)
	if got := fmt.Sprint(paths(after)); got != "[a:app/x/manifest.json]" {
		t.Fatalf("cursor after re-push: %s", got)
	}
}

func TestAQLMoreOperatorsAndFields(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	s := NewTest(t, WithClock(clock.Now))
	s.AddRepository(Repository{Key: "a"})
	ctx := context.Background()
	clock.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	if _, err := s.PushImage(ctx, "a", "old", "1", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	clock.Set(time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC))
	if _, err := s.PushImage(ctx, "a", "new", "1", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	clock.Set(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	m := `"name":"manifest.json",`
	cases := map[string]string{
		`{` + m + `"modified":{"$last":"2d"}}`:                                        "[a:new/1/manifest.json]",
		`{` + m + `"modified":{"$before":"2days"}}`:                                   "[a:old/1/manifest.json]",
		`{` + m + `"created":{"$gt":"2026-03-01T13:00:00+01:00"}}`:                    "[a:new/1/manifest.json]", // 12:00Z is not after 12:00Z
		`{` + m + `"created":{"$gte":"2026-03-01T13:00:00.000+0100"}}`:                "[a:old/1/manifest.json a:new/1/manifest.json]",
		`{` + m + `"size":{"$gt":0},"depth":3}`:                                       "[a:old/1/manifest.json a:new/1/manifest.json]",
		`{` + m + `"size":{"$lt":1}}`:                                                 "[]",
		`{` + m + `"property.key":"docker.repoName","property.value":"new"}`:          "[a:new/1/manifest.json]",
		`{` + m + `"@docker.repoName":{"$ne":"new"}}`:                                 "[a:old/1/manifest.json]",
		`{` + m + `"@*":"old"}`:                                                       "[a:old/1/manifest.json]",
		`{"name":{"$match":"sha256__*"},"path":{"$match":"new/*"},"size":{"$gte":1}}`: "3 items",
	}
	for crit, want := range cases {
		res := aql(t, s, admin, "items.find("+crit+`).include("repo","path","name")`)
		got := fmt.Sprint(paths(res))
		if want == "3 items" {
			got = fmt.Sprintf("%d items", len(res.Results))
		}
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", crit, got, want)
		}
	}
	res := aql(t, s, admin, `items.find({"name":"manifest.json","@docker.repoName":"new"}).include("repo","path","name","property.key")`)
	for _, p := range res.Results[0]["properties"].([]any) {
		if _, hasValue := p.(map[string]any)["value"]; hasValue {
			t.Fatalf("include(property.key) must not show values: %v", p)
		}
	}
	for _, bad := range []string{
		`items.find({"modified":{"$last":"soon"}})`,
		`items.find({"size":{"$match":"1*"}})`,
		`items.find({"name":{"$regex":"x"}})`,
		`items.find({"modified":"2026-02-30"})`,
		`items.find({"repo":"a"}).include("nosuchfield")`,
	} {
		if r := call(t, "POST", s.BaseURL()+"/api/search/aql", bad, admin); r.status != 400 {
			t.Errorf("%s: %d %s", bad, r.status, r.body)
		}
	}
}
