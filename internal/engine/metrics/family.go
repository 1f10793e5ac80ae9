package metrics

import "strings"

// Endpoint families (label "endpoint" of imagewatch_artifactory_requests_total).
// A family, not the path, so image names and digests never become label values.
const (
	FamilySystem         = "system"          // /api/system/ping, /api/system/version
	FamilyRepositories   = "repositories"    // /api/repositories[/key]
	FamilyAQL            = "aql"             // /api/search/aql
	FamilyStorage        = "storage"         // /api/storage/...
	FamilyDockerPing     = "docker_ping"     // /v2/ (the registry version check every pull starts with)
	FamilyDockerCatalog  = "docker_catalog"  // .../v2/_catalog
	FamilyDockerTags     = "docker_tags"     // .../v2/<image>/tags/list
	FamilyDockerManifest = "docker_manifest" // .../v2/<image>/manifests/<ref>
	FamilyDockerBlob     = "docker_blob"     // .../v2/<image>/blobs/<digest>, blobs/uploads/...
	FamilyDockerToken    = "docker_token"    // /v2/token, /api/docker/<key>/v2/token
	FamilyOther          = "other"
)

// EndpointFamily classifies a request path sent to Artifactory: REST paths
// under any context ("/artifactory/api/...", legacy "/<ctx>/api/..."), the
// direct Docker API ("/api/docker/<key>/v2/...") and the repository-path
// Docker method ("/v2/<key>/<image>/...").
func EndpointFamily(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) > 0 && segs[0] == "v2" {
		return dockerFamily(segs[1:])
	}
	for i, s := range segs {
		if s != "api" || i+1 >= len(segs) {
			continue
		}
		rest := segs[i+1:]
		switch rest[0] {
		case "system":
			return FamilySystem
		case "repositories":
			return FamilyRepositories
		case "storage":
			return FamilyStorage
		case "search":
			if len(rest) > 1 && rest[1] == "aql" {
				return FamilyAQL
			}
			return FamilyOther
		case "docker":
			// docker/<key>/v2/...
			if len(rest) >= 3 && rest[2] == "v2" {
				return dockerFamily(rest[3:])
			}
			return FamilyOther
		default:
			return FamilyOther
		}
	}
	return FamilyOther
}

// dockerFamily classifies the segments after "v2". Image names may contain
// "manifests" or "blobs" as components, so the decisive segments are read
// from the end.
func dockerFamily(rest []string) string {
	n := len(rest)
	switch {
	case n == 0 || (n == 1 && rest[0] == ""):
		return FamilyDockerPing
	case n == 1 && rest[0] == "token":
		return FamilyDockerToken
	case rest[n-1] == "_catalog":
		return FamilyDockerCatalog
	case n >= 3 && rest[n-2] == "tags" && rest[n-1] == "list":
		return FamilyDockerTags
	case n >= 3 && rest[n-2] == "manifests":
		return FamilyDockerManifest
	case n >= 3 && rest[n-2] == "blobs":
		return FamilyDockerBlob // blobs/<digest> and blobs/uploads/
	case n >= 4 && rest[n-3] == "blobs" && rest[n-2] == "uploads":
		return FamilyDockerBlob // blobs/uploads/<session>
	default:
		return FamilyOther
	}
}
