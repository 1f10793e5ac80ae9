//go:build generate

// Package tools pins the repository's build-time tools in a module of their own,
// so the provider's go.mod stays free of them. `go generate` sets the "generate"
// build tag, so only `make generate` (cd tools && go generate ./...) sees this file.
package tools

import (
	_ "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs"
)

// Format the examples before they are copied into the docs.
//go:generate terraform fmt -recursive ../examples/

// Generate docs/ from templates/ and examples/. tfplugindocs builds the provider, then finds
// terraform on PATH (hc-install fs.AnyVersion); the Makefile puts the local binary first and
// refuses to run without one, so the "download the latest Terraform" fallback is never reached.
//go:generate go run github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs generate --provider-dir .. --provider-name imagewatch --rendered-provider-name imagewatch
