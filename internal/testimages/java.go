package testimages

import (
	"archive/zip"
	"bytes"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type mavenArtifact struct{ Group, Artifact, Version, Title string }

// javaLibraries are nested in the application jar under BOOT-INF/lib (Spring Boot layout).
var javaLibraries = []mavenArtifact{
	{Group: "com.fasterxml.jackson.core", Artifact: "jackson-core", Version: "2.17.1", Title: "Jackson-core"},
	{Group: "org.apache.commons", Artifact: "commons-lang3", Version: "3.14.0", Title: "Apache Commons Lang"},
}

// JavaPackages are the Maven artifacts syft must find in JavaApp's jar, besides the application itself
// (JavaAppArtifact).
var JavaPackages = func() []Expect {
	out := make([]Expect, 0, len(javaLibraries))
	for _, a := range javaLibraries {
		out = append(out, Expect{Ecosystem: EcosystemJava, Name: a.Artifact, Version: a.Version})
	}
	return out
}()

// JavaAppGroup is the Maven group of JavaApp's own artifact.
const JavaAppGroup = "com.example"

// JavaAppArtifact is the application's own artifact in JavaApp(base, name).
func JavaAppArtifact(name string) Expect {
	return Expect{Ecosystem: EcosystemJava, Name: name, Version: "1.0.0"}
}

// JavaApp returns base plus two layers: one that installs a JRE through dpkg (rewriting the dpkg status
// database, adding JavaDebPackages) and one with /app/<name>.jar, a jar with META-INF/MANIFEST.MF,
// META-INF/maven/com.example/<name>/pom.properties and nested library jars (JavaPackages).
func JavaApp(base v1.Image, name string) (v1.Image, error) {
	return javaApp(base, name, "1.0.0")
}

func javaApp(base v1.Image, name, version string) (v1.Image, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	p, err := platformOf(base)
	if err != nil {
		return nil, err
	}
	arch := dpkgArch(p)
	jreFiles := dpkgFiles([]debPackage{jrePackage}, arch)
	jreFiles[0] = file{Path: "/var/lib/dpkg/status", Data: dpkgStatus(append(append([]debPackage{}, debianPackages...), jrePackage), arch)}
	jreFiles = append(jreFiles, file{Path: "/usr/lib/jvm/java-17-openjdk-" + arch + "/release",
		Data: []byte("JAVA_VERSION=\"17.0.12\"\nJAVA_RUNTIME_VERSION=\"17.0.12+7-Debian-2deb12u1\"\nIMPLEMENTOR=\"Debian\"\n")})

	jar, err := appJar(mavenArtifact{Group: JavaAppGroup, Artifact: name, Version: "1.0.0", Title: name}, javaLibraries)
	if err != nil {
		return nil, err
	}
	img, err := appendSteps(base,
		step{files: jreFiles, createdBy: "RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless # buildkit",
			at: stepAt(name, 1)},
		step{files: []file{{Path: "/app/" + name + ".jar", Data: jar}},
			createdBy: "COPY target/" + name + ".jar /app/ # buildkit", at: stepAt(name, 2)},
		step{files: []file{{Path: "/etc/" + name + "/version", Data: []byte(version + "\n")}},
			createdBy: "RUN /bin/sh -c echo " + version + " > /etc/" + name + "/version # buildkit", at: stepAt(name, 3)},
	)
	if err != nil {
		return nil, err
	}
	return appConfig(img, name, []string{"java", "-jar", "/app/" + name + ".jar"}, []string{"JAVA_HOME=/usr/lib/jvm/java-17-openjdk-" + arch})
}

// appJar builds an executable jar for app with libs nested under BOOT-INF/lib.
func appJar(app mavenArtifact, libs []mavenArtifact) ([]byte, error) {
	entries := []zipEntry{
		{"META-INF/MANIFEST.MF", manifestMF(app, "org.springframework.boot.loader.launch.JarLauncher"), zip.Deflate},
		{"META-INF/maven/" + app.Group + "/" + app.Artifact + "/pom.properties", pomProperties(app), zip.Deflate},
		{"META-INF/maven/" + app.Group + "/" + app.Artifact + "/pom.xml", pomXML(app), zip.Deflate},
		{"BOOT-INF/classes/com/example/Application.class", classFile(), zip.Deflate},
	}
	for _, lib := range libs {
		b, err := libJar(lib)
		if err != nil {
			return nil, err
		}
		// Spring Boot stores nested jars uncompressed
		entries = append(entries, zipEntry{"BOOT-INF/lib/" + lib.Artifact + "-" + lib.Version + ".jar", b, zip.Store})
	}
	return zipFiles(entries)
}

func libJar(a mavenArtifact) ([]byte, error) {
	return zipFiles([]zipEntry{
		{"META-INF/MANIFEST.MF", manifestMF(a, ""), zip.Deflate},
		{"META-INF/maven/" + a.Group + "/" + a.Artifact + "/pom.properties", pomProperties(a), zip.Deflate},
		{"META-INF/maven/" + a.Group + "/" + a.Artifact + "/pom.xml", pomXML(a), zip.Deflate},
	})
}

type zipEntry struct {
	name   string
	data   []byte
	method uint16
}

func zipFiles(entries []zipEntry) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method, Modified: Epoch})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func manifestMF(a mavenArtifact, mainClass string) []byte {
	s := "Manifest-Version: 1.0\r\nCreated-By: Maven JAR Plugin 3.3.0\r\nBuild-Jdk-Spec: 17\r\n" +
		"Implementation-Title: " + a.Title + "\r\nImplementation-Version: " + a.Version + "\r\n" +
		"Implementation-Vendor: " + a.Group + "\r\n"
	if mainClass != "" {
		s += "Main-Class: " + mainClass + "\r\nStart-Class: com.example.Application\r\n"
	}
	return []byte(s + "\r\n")
}

func pomProperties(a mavenArtifact) []byte {
	return []byte(fmt.Sprintf("#Created by Apache Maven 3.9.6\nartifactId=%s\ngroupId=%s\nversion=%s\n", a.Artifact, a.Group, a.Version))
}

func pomXML(a mavenArtifact) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>%s</groupId>
  <artifactId>%s</artifactId>
  <version>%s</version>
  <name>%s</name>
</project>
`, a.Group, a.Artifact, a.Version, a.Title))
}

// classFile is a minimal class file header (magic + Java 17 version); enough to look like compiled code.
func classFile() []byte {
	return []byte{0xCA, 0xFE, 0xBA, 0xBE, 0x00, 0x00, 0x00, 0x3D}
}
