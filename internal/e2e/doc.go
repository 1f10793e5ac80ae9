// Package e2e holds end-to-end tests of the whole product: the real Terraform
// CLI with the provider built from this tree, the real imagewatch-engine
// binary, and the Artifactory double holding real images. It has no code of
// its own.
package e2e
