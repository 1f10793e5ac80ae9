package testimages

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type npmPackage struct {
	Name, Version, Integrity, License string
	Dev                               bool
	Dependencies                      map[string]string
}

// npmPackages are real registry entries (integrity from registry.npmjs.org).
var npmPackages = []npmPackage{
	{Name: "debug", Version: "4.3.7", License: "MIT", Dependencies: map[string]string{"ms": "^2.1.3"},
		Integrity: "sha512-Er2nc/H7RrMXZBFCEim6TCmMk02Z8vLC2Rbi1KEBggpo0fS6l0S1nnapwmIi3yW/+GOJap1Krg4w0Hg80oCqgQ=="},
	{Name: "lodash", Version: "4.17.21", License: "MIT",
		Integrity: "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg=="},
	{Name: "ms", Version: "2.1.3", License: "MIT",
		Integrity: "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA=="},
	{Name: "typescript", Version: "5.6.3", License: "Apache-2.0", Dev: true,
		Integrity: "sha512-hjcS1mhfuyi4WW8IWtjP7brDrG2cuDZukyrYrSauoXGNgx0S7zceP07adYkJycEr56BOUTNPzbInooiN3fn1qw=="},
}

// NpmPackages are the npm packages syft must find in NodeApp (production dependencies of the lockfile).
var NpmPackages = func() []Expect {
	var out []Expect
	for _, p := range npmPackages {
		if !p.Dev {
			out = append(out, Expect{Ecosystem: EcosystemNpm, Name: p.Name, Version: p.Version})
		}
	}
	return out
}()

// NpmDevPackages are dev dependencies in NodeApp's lockfile; syft's defaults exclude them.
var NpmDevPackages = []Expect{{Ecosystem: EcosystemNpm, Name: "typescript", Version: "5.6.3"}}

// NodeApp returns base plus three layers, as a Dockerfile running `npm ci --omit=dev` builds them:
// /app/package.json with a lockfileVersion 3 /app/package-lock.json; the installed production packages
// (/app/node_modules/<name>/package.json: what syft catalogs in an image); /app/server.js.
func NodeApp(base v1.Image, name string) (v1.Image, error) {
	return nodeApp(base, name, "1.0.0")
}

func nodeApp(base v1.Image, name, version string) (v1.Image, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	pkgJSON, lock, err := npmManifests(name, version)
	if err != nil {
		return nil, err
	}
	installed, err := nodeModules()
	if err != nil {
		return nil, err
	}
	img, err := appendSteps(base,
		step{files: []file{{Path: "/app/package.json", Data: pkgJSON}, {Path: "/app/package-lock.json", Data: lock}},
			createdBy: "COPY package.json package-lock.json /app/ # buildkit", at: stepAt(name, 1)},
		step{files: installed, createdBy: "RUN /bin/sh -c npm ci --omit=dev # buildkit", at: stepAt(name, 2)},
		step{files: []file{{Path: "/app/server.js", Data: []byte(
			"const debug = require('debug')('" + name + "');\nconst _ = require('lodash');\ndebug('listening', _.VERSION);\n")}},
			createdBy: "COPY server.js /app/ # buildkit", at: stepAt(name, 3)},
	)
	if err != nil {
		return nil, err
	}
	return appConfig(img, name, []string{"node", "/app/server.js"}, []string{"NODE_ENV=production"})
}

func npmManifests(name, version string) (pkgJSON, lock []byte, err error) {
	deps, devDeps := map[string]string{}, map[string]string{}
	for _, p := range npmPackages {
		if p.Name == "ms" { // transitive, through debug
			continue
		}
		if p.Dev {
			devDeps[p.Name] = "^" + p.Version
		} else {
			deps[p.Name] = "^" + p.Version
		}
	}
	root := map[string]any{"name": name, "version": version, "license": "UNLICENSED", "dependencies": deps, "devDependencies": devDeps}
	pkgJSON, err = json.MarshalIndent(map[string]any{
		"name": name, "version": version, "private": true, "main": "server.js", "license": "UNLICENSED",
		"dependencies": deps, "devDependencies": devDeps,
	}, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	packages := map[string]any{"": root}
	for _, p := range npmPackages {
		entry := map[string]any{
			"version":   p.Version,
			"resolved":  fmt.Sprintf("https://registry.npmjs.org/%s/-/%s-%s.tgz", p.Name, p.Name, p.Version),
			"integrity": p.Integrity,
			"license":   p.License,
		}
		if p.Dev {
			entry["dev"] = true
		}
		if len(p.Dependencies) > 0 {
			entry["dependencies"] = p.Dependencies
		}
		packages["node_modules/"+p.Name] = entry
	}
	lock, err = json.MarshalIndent(map[string]any{
		"name": name, "version": version, "lockfileVersion": 3, "requires": true, "packages": packages,
	}, "", "  ")
	return append(pkgJSON, '\n'), append(lock, '\n'), err
}

// nodeModules is /app/node_modules after `npm ci --omit=dev`: one package.json per production package.
func nodeModules() ([]file, error) {
	var files []file
	for _, p := range npmPackages {
		if p.Dev {
			continue
		}
		manifest := map[string]any{
			"name": p.Name, "version": p.Version, "license": p.License,
			"description": p.Name + " package", "main": "index.js",
			"repository": map[string]string{"type": "git", "url": "git+https://github.com/example/" + p.Name + ".git"},
		}
		if len(p.Dependencies) > 0 {
			manifest["dependencies"] = p.Dependencies
		}
		b, err := json.MarshalIndent(manifest, "", "  ")
		if err != nil {
			return nil, err
		}
		files = append(files,
			file{Path: "/app/node_modules/" + p.Name + "/package.json", Data: append(b, '\n')},
			file{Path: "/app/node_modules/" + p.Name + "/index.js", Data: []byte("module.exports = {};\n")},
		)
	}
	return files, nil
}
