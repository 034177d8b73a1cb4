// Package inventory owns what the running build is made of (issue 15,
// "Inventory"): its version, commit and Go version, the modules compiled
// in, and a CycloneDX software bill of materials of them, all read from the
// build information the Go toolchain embeds in every binary.
package inventory

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"runtime/debug"
	"time"
)

// Module is one module compiled into the binary.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	// Sum is go.sum's hash of the module ("h1:…"), empty for the main one.
	Sum string `json:"sum,omitempty"`
}

// Info is the build's inventory.
type Info struct {
	Path       string   `json:"path"`
	Version    string   `json:"version"`
	Commit     string   `json:"commit,omitempty"`
	CommitTime string   `json:"commit_time,omitempty"`
	Modified   bool     `json:"modified"`
	Go         string   `json:"go"`
	Modules    []Module `json:"modules"`
}

// Read returns the running binary's inventory (an error in a binary built
// without module support, which Bulwark never is).
func Read() (Info, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{}, fmt.Errorf("this binary carries no build information")
	}
	return From(bi), nil
}

// From reads the inventory of bi. A module replaced by another is listed
// as what was compiled in: the replacement.
func From(bi *debug.BuildInfo) Info {
	in := Info{Path: bi.Main.Path, Version: bi.Main.Version, Go: bi.GoVersion, Modules: []Module{}}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = s.Value
		case "vcs.time":
			in.CommitTime = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		in.Modules = append(in.Modules, Module{Path: d.Path, Version: d.Version, Sum: d.Sum})
	}
	return in
}

// ModulesDigest names the module list: the first 16 hex digits of the
// SHA-256 of "path@version\n" for each module in order. Two instances with
// the same digest run the same dependencies, whatever their version says
// (a local build is "(devel)").
func (in Info) ModulesDigest() string {
	h := sha256.New()
	for _, m := range in.Modules {
		fmt.Fprintf(h, "%s@%s\n", m.Path, m.Version)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Short is the one-line version: "v1.2.3 (commit abc123def456, modified) go1.26.8".
func (in Info) Short() string {
	s := in.Version
	if in.Commit != "" {
		c := in.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += " (commit " + c
		if in.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + in.Go
}

// CycloneDX 1.5, the parts an SBOM of a Go binary fills: the application
// and each module as a library with its package URL (purl, type golang).
type cdxComponent struct {
	Type       string        `json:"type"`
	BOMRef     string        `json:"bom-ref"`
	Name       string        `json:"name"`
	Version    string        `json:"version"`
	PURL       string        `json:"purl"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxBOM struct {
	BOMFormat    string `json:"bomFormat"`
	SpecVersion  string `json:"specVersion"`
	SerialNumber string `json:"serialNumber"`
	Version      int    `json:"version"`
	Metadata     struct {
		Timestamp string       `json:"timestamp"`
		Component cdxComponent `json:"component"`
	} `json:"metadata"`
	Components   []cdxComponent `json:"components"`
	Dependencies []struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	} `json:"dependencies"`
}

// purl is a module's package URL; a version such as "(devel)" is escaped.
func purl(path, version string) string { return "pkg:golang/" + path + "@" + url.PathEscape(version) }

// SBOM returns the inventory as a CycloneDX 1.5 JSON document made at now.
func SBOM(in Info, now time.Time) ([]byte, error) {
	var b cdxBOM
	b.BOMFormat, b.SpecVersion, b.Version = "CycloneDX", "1.5", 1
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return nil, err
	}
	u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80 // RFC 9562 version 4, variant 10
	b.SerialNumber = fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	b.Metadata.Timestamp = now.UTC().Format(time.RFC3339)
	app := cdxComponent{Type: "application", BOMRef: purl(in.Path, in.Version), Name: in.Path, Version: in.Version, PURL: purl(in.Path, in.Version),
		Properties: []cdxProperty{{"go", in.Go}}}
	if in.Commit != "" {
		app.Properties = append(app.Properties, cdxProperty{"vcs.revision", in.Commit}, cdxProperty{"vcs.modified", fmt.Sprint(in.Modified)})
	}
	b.Metadata.Component = app
	b.Components = []cdxComponent{}
	dep := struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	}{Ref: app.BOMRef, DependsOn: []string{}}
	for _, m := range in.Modules {
		c := cdxComponent{Type: "library", BOMRef: purl(m.Path, m.Version), Name: m.Path, Version: m.Version, PURL: purl(m.Path, m.Version)}
		if m.Sum != "" {
			c.Properties = []cdxProperty{{"go.sum", m.Sum}}
		}
		b.Components = append(b.Components, c)
		dep.DependsOn = append(dep.DependsOn, c.BOMRef)
	}
	b.Dependencies = append(b.Dependencies, dep)
	return json.MarshalIndent(b, "", "  ")
}
