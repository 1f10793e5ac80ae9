// Package examples holds the Terraform configurations that docs/ shows (tfplugindocs layout:
// provider/, resources/<type>/, data-sources/<type>/, functions/<name>/) and the quickstart.
// Its test validates every one of them with the real Terraform CLI against the provider built
// from this tree, so an example cannot drift from the schema.
package examples
