package testimages

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// debPackage is one stanza of /var/lib/dpkg/status.
type debPackage struct {
	Name, Version, Source, Arch, Section, Priority, MultiArch, Depends, License, Description string
	Essential                                                                                bool
	InstalledSize                                                                            int
	Files                                                                                    []string // owned files listed in info/<pkg>.list
}

// debianPackages is the dpkg database of the Debian-like base: real bookworm package names and versions.
// Arch "" means the image architecture; "all" is architecture-independent.
var debianPackages = []debPackage{
	{Name: "base-files", Version: "12.4+deb12u7", Section: "admin", Priority: "required", Essential: true, InstalledSize: 341,
		MultiArch: "foreign", License: "GPL-2+", Description: "Debian base system miscellaneous files",
		Files: []string{"/etc/debian_version", "/etc/os-release", "/usr/lib/os-release", "/usr/share/doc/base-files/copyright"}},
	{Name: "bash", Version: "5.2.15-2+b7", Source: "bash (5.2.15-2)", Section: "shells", Priority: "required", Essential: true,
		InstalledSize: 7164, MultiArch: "foreign", Depends: "base-files (>= 2.1.12), debianutils (>= 5.6-0.1)", License: "GPL-3+",
		Description: "GNU Bourne Again SHell", Files: []string{"/usr/share/doc/bash/copyright"}},
	{Name: "ca-certificates", Version: "20230311", Arch: "all", Section: "misc", Priority: "optional", InstalledSize: 382,
		MultiArch: "foreign", Depends: "openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0", License: "MPL-2.0",
		Description: "Common CA certificates", Files: []string{"/usr/share/doc/ca-certificates/copyright"}},
	{Name: "debian-archive-keyring", Version: "2023.3+deb12u1", Arch: "all", Section: "misc", Priority: "important",
		InstalledSize: 245, MultiArch: "foreign", License: "GPL-2+", Description: "GnuPG archive keys of the Debian archive",
		Files: []string{"/usr/share/doc/debian-archive-keyring/copyright"}},
	{Name: "gcc-12-base", Version: "12.2.0-14", Source: "gcc-12", Section: "libs", Priority: "required", InstalledSize: 260,
		MultiArch: "same", License: "GPL-3+", Description: "GCC, the GNU Compiler Collection (base package)",
		Files: []string{"/usr/share/doc/gcc-12-base/copyright"}},
	{Name: "libc6", Version: "2.36-9+deb12u8", Source: "glibc", Section: "libs", Priority: "optional", InstalledSize: 12986,
		MultiArch: "same", Depends: "libgcc-s1", License: "LGPL-2.1+", Description: "GNU C Library: Shared libraries",
		Files: []string{"/usr/share/doc/libc6/copyright"}},
	{Name: "libgcc-s1", Version: "12.2.0-14", Source: "gcc-12", Section: "libs", Priority: "optional", InstalledSize: 140,
		MultiArch: "same", Depends: "gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)", License: "GPL-3+",
		Description: "GCC support library", Files: []string{"/usr/share/doc/libgcc-s1/copyright"}},
	{Name: "libssl3", Version: "3.0.14-1~deb12u2", Source: "openssl", Section: "libs", Priority: "optional", InstalledSize: 6361,
		MultiArch: "same", Depends: "libc6 (>= 2.34)", License: "Apache-2.0",
		Description: "Secure Sockets Layer toolkit - shared libraries", Files: []string{"/usr/share/doc/libssl3/copyright"}},
	{Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all", Section: "localization", Priority: "required", InstalledSize: 3180,
		MultiArch: "foreign", Depends: "debconf (>= 0.5) | debconf-2.0", License: "public-domain",
		Description: "time zone and daylight-saving time data", Files: []string{"/usr/share/doc/tzdata/copyright"}},
	{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib", Section: "libs", Priority: "optional", InstalledSize: 168,
		MultiArch: "same", Depends: "libc6 (>= 2.14)", License: "Zlib",
		Description: "compression library - runtime", Files: []string{"/usr/share/doc/zlib1g/copyright"}},
}

// jrePackage is installed by the Java application image in its own layer, which rewrites the dpkg database:
// the layer that introduced it differs from the base packages' layer.
var jrePackage = debPackage{Name: "openjdk-17-jre-headless", Version: "17.0.12+7-2~deb12u1", Source: "openjdk-17",
	Section: "java", Priority: "optional", InstalledSize: 191547, MultiArch: "same",
	Depends: "ca-certificates-java, java-common, libc6 (>= 2.34), zlib1g (>= 1:1.1.4)", License: "GPL-2 with Classpath exception",
	Description: "OpenJDK Java runtime, using Hotspot JIT (headless)",
	Files:       []string{"/usr/share/doc/openjdk-17-jre-headless/copyright"}}

// DebianPackages are the dpkg packages syft must find in DebianBase (and in every image built on it).
var DebianPackages = expectDeb(debianPackages)

// JavaDebPackages are the dpkg packages the Java application image adds in its own layer.
var JavaDebPackages = expectDeb([]debPackage{jrePackage})

func expectDeb(pkgs []debPackage) []Expect {
	out := make([]Expect, 0, len(pkgs))
	for _, p := range pkgs {
		out = append(out, Expect{Ecosystem: EcosystemDeb, Name: p.Name, Version: p.Version})
	}
	return out
}

// dpkgStatus renders a real-format dpkg status database for arch.
func dpkgStatus(pkgs []debPackage, arch string) []byte {
	var b strings.Builder
	for _, p := range pkgs {
		a := p.Arch
		if a == "" {
			a = arch
		}
		fmt.Fprintf(&b, "Package: %s\n", p.Name)
		if p.Essential {
			b.WriteString("Essential: yes\n")
		}
		b.WriteString("Status: install ok installed\n")
		fmt.Fprintf(&b, "Priority: %s\nSection: %s\nInstalled-Size: %d\n", p.Priority, p.Section, p.InstalledSize)
		b.WriteString("Maintainer: Debian Developers <debian-devel@lists.debian.org>\n")
		fmt.Fprintf(&b, "Architecture: %s\n", a)
		if p.MultiArch != "" {
			fmt.Fprintf(&b, "Multi-Arch: %s\n", p.MultiArch)
		}
		if p.Source != "" {
			fmt.Fprintf(&b, "Source: %s\n", p.Source)
		}
		fmt.Fprintf(&b, "Version: %s\n", p.Version)
		if p.Depends != "" {
			fmt.Fprintf(&b, "Depends: %s\n", p.Depends)
		}
		fmt.Fprintf(&b, "Description: %s\n", p.Description)
		fmt.Fprintf(&b, " %s, as packaged for Debian 12 (bookworm).\n", p.Description)
		b.WriteString("Homepage: https://www.debian.org/\n\n")
	}
	return []byte(b.String())
}

// dpkgFiles is the dpkg database as files: status, info/<pkg>.list, and each package's copyright file.
func dpkgFiles(pkgs []debPackage, arch string) []file {
	files := []file{{Path: "/var/lib/dpkg/status", Data: dpkgStatus(pkgs, arch)}}
	for _, p := range pkgs {
		listName := p.Name
		if p.MultiArch == "same" {
			listName += ":" + arch
		}
		var list strings.Builder
		for _, f := range p.Files {
			list.WriteString(f + "\n")
		}
		files = append(files,
			file{Path: "/var/lib/dpkg/info/" + listName + ".list", Data: []byte(list.String())},
			file{Path: "/usr/share/doc/" + p.Name + "/copyright", Data: []byte(fmt.Sprintf(
				"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: %s\n\nFiles: *\nCopyright: The %s authors\nLicense: %s\n",
				p.Name, p.Name, p.License))},
		)
	}
	return files
}

const osRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`

// DebianBase returns a Debian 12 (bookworm)-like linux/amd64 base image: one rootfs layer with os-release,
// debian_version and a dpkg database of DebianPackages.
func DebianBase() (v1.Image, error) {
	return DebianBaseFor(v1.Platform{OS: "linux", Architecture: "amd64"})
}

// DebianBaseFor is DebianBase for another platform (linux/arm64, linux/arm/v7...); the dpkg architecture follows.
func DebianBaseFor(p v1.Platform) (v1.Image, error) {
	if p.OS == "" {
		p.OS = "linux"
	}
	if p.Architecture == "" {
		return nil, fmt.Errorf("testimages: platform architecture is required")
	}
	arch := dpkgArch(p)
	files := []file{
		{Path: "/usr/lib/os-release", Data: []byte(osRelease)},
		{Path: "/etc/os-release", Linkname: "../usr/lib/os-release"},
		{Path: "/etc/debian_version", Data: []byte("12.7\n")},
		{Path: "/etc/hostname", Data: []byte("localhost\n")},
		{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Path: "/root", Dir: true, Mode: 0o700},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
		{Path: "/bin", Linkname: "usr/bin"},
		{Path: "/lib", Linkname: "usr/lib"},
		{Path: "/usr/bin", Dir: true},
		{Path: "/usr/local/bin", Dir: true},
	}
	files = append(files, dpkgFiles(debianPackages, arch)...)

	img, err := editConfig(emptyOCIImage(), func(cf *v1.ConfigFile) {
		cf.OS = p.OS
		cf.Architecture = p.Architecture
		cf.Variant = p.Variant
		cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		cf.Config.Cmd = []string{"bash"}
	})
	if err != nil {
		return nil, err
	}
	img, err = appendSteps(img, step{files: files, createdBy: "# debian.sh --arch '" + arch + "' out/ 'bookworm' '@1717401000'"})
	if err != nil {
		return nil, err
	}
	return appendHistory(img, v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: `CMD ["bash"]`, EmptyLayer: true})
}

// appendHistory adds config-only (empty layer) history entries.
func appendHistory(img v1.Image, hs ...v1.History) (v1.Image, error) {
	return editConfig(img, func(cf *v1.ConfigFile) { cf.History = append(cf.History, hs...) })
}

// dpkgArch maps an OCI platform to Debian's architecture name.
func dpkgArch(p v1.Platform) string {
	switch {
	case p.Architecture == "arm" && p.Variant == "v7":
		return "armhf"
	case p.Architecture == "arm":
		return "armel"
	case p.Architecture == "386":
		return "i386"
	case p.Architecture == "ppc64le":
		return "ppc64el"
	default:
		return p.Architecture
	}
}
