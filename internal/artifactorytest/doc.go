// Package artifactorytest is an in-process JFrog Artifactory double for tests,
// benchmarks and demos, honest to /work/shared/reference/artifactory-api.md.
//
// It serves, at URL():
//
//   - /artifactory/api/system/ping|version, /artifactory/api/repositories[/{key}],
//     /artifactory/api/storage/{key}/{path} (info, ?list, ?lastModified, ?properties),
//     POST /artifactory/api/search/aql;
//   - Docker Registry V2 at /artifactory/api/docker/{key}/v2/... (REST credentials
//     accepted directly, and tokens from the token endpoint) and through the
//     repository-path method /v2/{key}/{image}/... with the Bearer challenge and
//     the token endpoints /v2/token and /artifactory/api/docker/{key}/v2/token.
//
// Docker blobs and manifests live in go-containerregistry's pkg/registry
// (repository name "{key}/{image}"). Beside it the double keeps a storage
// index: a manifest PUT for {image}:{tag} creates {image}/{tag}/manifest.json
// (list.manifest.json for an index) with the docker.manifest,
// docker.manifest.digest, docker.manifest.type, docker.repoName and sha256
// properties, plus sha256__{hex} files for the config and layers; a push by
// digest (platform manifests of an index) lands in {image}/sha256__{hex}/.
// Timestamps come from the server clock (WithClock) at millisecond precision.
// Catalog, tags, storage and AQL answers are computed from this index.
//
// Wire formats follow the reference: the generic error envelope pretty-printed
// by Jackson with Content-Type application/json;charset=ISO-8859-1, 401 with
// WWW-Authenticate: Basic realm="Artifactory Realm", AQL's streaming framing
// and Jackson-pretty rows, Docker-format errors and the
// Docker-Distribution-Api-Version header on every V2 response.
//
// AQL reproduces two documented quirks: limit/offset apply to item x property
// rows when properties are included, and rows the caller cannot read are
// dropped after the limit.
//
// Choices where the reference is silent or UNVERIFIED (documented so tests
// can rely on them):
//
//   - GET /api/repositories/{key} without read permission: 403 "Forbidden".
//   - Docker reads without permission: 403 DENIED for a user, the Bearer
//     challenge for anonymous callers. Only admins push.
//   - Unknown repository key on a V2 path: 404 envelope
//     "Unsupported docker v2 repository request for '<key>'".
//   - tags/list of an unknown image: 404 NAME_UNKNOWN.
//   - Paging Link headers point at the repository-path method, which is
//     followable from the platform URL: </v2/<key>/_catalog?last=X&n=N> and
//     </v2/<key>/<image>/tags/list?last=X&n=N>; rel="next".
//   - tags/list "name" is <image> on the API path and <key>/<image> on the
//     repository-path method.
//   - Docker token-endpoint tokens are accepted on V2 routes only, not REST.
//   - Virtual repositories resolve reads through their members in order (a
//     grant on the virtual key covers all members, otherwise only readable
//     members are used); pushes go to DefaultDeploymentRepo. AQL with
//     {"repo":"<virtual>"} searches the members' physical repositories
//     (local repositories and remote caches) and adds virtual_repos to rows.
//   - Remote repositories: content lives in "<key>-cache" (storage and AQL);
//     pushing to the remote key is refused as the reference says. Tests seed a
//     cache with CacheImage (a door only the double has). Docker reads through
//     the remote key resolve to the cache, except _catalog which answers []
//     as a docker.io remote does (also for a remote inside a virtual).
//   - GET /api/repositories/{key} returns the full configuration to any
//     reader (the reference does not say what "partial" means for non-admins).
//   - AQL: transitive(), distinct() and $msp are accepted ($msp behaves as
//     $and); stats are not modelled; sort is honoured even with properties.
//   - Malformed manifests pushed with PushManifest are stored and served back
//     unchanged so clients' error paths can be tested.
//
// Optional behaviours: WithLoginLockout (brute-force 403s),
// WithAQLConcurrencyLimit (429 after waiting for a slot), WithDockerTokenTTL,
// IssueReferenceToken (opaque cmVmd... tokens), faults (SetFault, DisableAQL).
//
// Only NewTest depends on package testing, so the double can be served from a
// small binary (New, Start, then block).
package artifactorytest
