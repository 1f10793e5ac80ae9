// Package artifactory is imagewatch's one JFrog Artifactory client, used by the Terraform
// provider and the engine.
//
// Design choices worth knowing (see /work/shared/reference/artifactory-api.md for the facts):
//
//   - Authentication follows DESIGN.md: Basic with a username, X-JFrog-Art-Api for a legacy API
//     key without username, Bearer otherwise. Secrets never appear in errors, logs or String().
//   - Every call runs under WithTimeout (one deadline covering all retries) and the caller's
//     context. Retries (go-retryablehttp) cover 429, 5xx except 501, timeouts and connection
//     errors; Retry-After is honoured up to maxWait, otherwise capped exponential backoff with
//     jitter (internal/retry). A Retry-After longer than the call has left ends the call with the 429.
//   - FindManifests pages over primary-domain fields only (sort/limit on joined item×property
//     rows is unreliable) and reads properties in separate batched queries without sort/limit.
//     Because Artifactory drops unreadable rows after applying limit, a short page is not the
//     end: paging stops at the first empty page. An idle poll therefore costs one request.
//   - ListImages uses AQL first and falls back to the Docker catalog/tags/HEAD API when AQL is
//     refused; virtual repositories always go through the Docker API, remote repositories are
//     searched in their "<key>-cache".
package artifactory
