package artifactory

import "time"

// AuthMode is how a Credentials value is sent to Artifactory.
type AuthMode int

const (
	// AuthNone sends no credentials (anonymous access).
	AuthNone AuthMode = iota
	// AuthBearer sends "Authorization: Bearer <secret>" (access or identity token, no username).
	AuthBearer
	// AuthBasic sends Basic username:secret (password, API key or token with a username).
	AuthBasic
	// AuthAPIKey sends "X-JFrog-Art-Api: <secret>" (legacy API key, no username).
	AuthAPIKey
)

func (m AuthMode) String() string {
	switch m {
	case AuthBearer:
		return "bearer"
	case AuthBasic:
		return "basic"
	case AuthAPIKey:
		return "api-key"
	default:
		return "anonymous"
	}
}

// Version is the body of GET /api/system/version.
type Version struct {
	Version  string   `json:"version"`
	Revision string   `json:"revision"`
	Addons   []string `json:"addons"`
	License  string   `json:"license"`
}

// Repository classes as GET /api/repositories/{key} reports them (rclass).
const (
	ClassLocal     = "local"
	ClassRemote    = "remote"
	ClassVirtual   = "virtual"
	ClassFederated = "federated"
)

// Repository is the part of a repository's configuration imagewatch uses.
// Class and PackageType are lower-case whatever endpoint they came from.
type Repository struct {
	Key         string
	Class       string
	PackageType string
	Description string
	URL         string
}

// IsDocker reports whether the repository holds Docker/OCI images.
func (r Repository) IsDocker() bool { return r.PackageType == "docker" || r.PackageType == "oci" }

// ListRepositoriesOptions filters GET /api/repositories. Empty fields mean no filter.
type ListRepositoriesOptions struct {
	Type        string // local, remote, virtual, federated
	PackageType string // docker, generic, ...
}

// Manifest media types as stored in docker.manifest.type.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeOCIManifest        = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex           = "application/vnd.oci.image.index.v1+json"
)

// Manifest storage file names inside a tag folder.
const (
	ManifestFile     = "manifest.json"
	ListManifestFile = "list.manifest.json"
)

// Image is one tag of one image in one repository, as discovery found it.
type Image struct {
	Repository string    // repository key
	Name       string    // image name inside the repository, e.g. "team/app"
	Tag        string    // tag
	Digest     string    // "sha256:<hex>" of the tag's manifest or index
	MediaType  string    // manifest media type; may be empty when the listing could not tell
	Created    time.Time // when the manifest was created in this repository (zero if unknown)
	Modified   time.Time // AQL "modified" of the manifest file (zero if unknown)
	Reference  string    // pullable reference: <registry-host>/<repository>/<name>:<tag>
}

// MultiPlatform reports whether the tag points at a manifest list / OCI index.
func (i Image) MultiPlatform() bool {
	return i.MediaType == MediaTypeDockerManifestList || i.MediaType == MediaTypeOCIIndex
}

// ManifestQuery selects manifest.json and list.manifest.json items through AQL.
type ManifestQuery struct {
	Repositories   []string  // repository keys; at least one
	ModifiedAfter  time.Time // exclusive lower bound on "modified"; zero = no bound
	ModifiedBefore time.Time // exclusive upper bound; zero = no bound
	PageSize       int       // rows per AQL page; 0 = client default
	// SkipMediaTypes leaves Image.MediaType empty instead of reading docker.manifest.type with
	// one extra AQL request per batch of manifests (callers that resolve manifests themselves).
	SkipMediaTypes bool
}

// ListImagesOptions controls ListImages.
type ListImagesOptions struct {
	Filters []ImageFilter // applied per repository; none = everything
	// Method forces a listing method: "" (AQL, falling back to the Docker
	// catalog when AQL is refused), "aql" or "catalog".
	Method string
}

// Repository access states reported by TestConnection.
const (
	StatusOK           = "ok"
	StatusNotFound     = "not_found"
	StatusNotDocker    = "not_docker"
	StatusNoRead       = "no_read_permission"
	StatusUnreachable  = "unreachable"
	StatusUnauthorized = "unauthorized"
)

// RepositoryCheck is TestConnection's verdict on one key.
type RepositoryCheck struct {
	Key        string
	Status     string     // one of the Status* constants
	Reason     string     // human sentence: why, and what to do
	Repository Repository // filled when the configuration could be read
}

// ConnectionReport is the result of TestConnection.
type ConnectionReport struct {
	Version      Version
	AuthOK       bool
	AuthError    error // set when the credential check failed; an *Error or a transport error
	Hint         string
	Repositories []RepositoryCheck // in the order of the keys given
}

// Failed returns the keys whose check is not ok, in order.
func (r *ConnectionReport) Failed() []RepositoryCheck {
	var out []RepositoryCheck
	for _, c := range r.Repositories {
		if c.Status != StatusOK {
			out = append(out, c)
		}
	}
	return out
}
