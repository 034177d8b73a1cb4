package inventory

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func testBuild() *debug.BuildInfo {
	return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/bulwark-shop/bulwark", Version: "v1.2.3"},
		Deps: []*debug.Module{
			{Path: "github.com/tink-crypto/tink-go/v2", Version: "v2.9.0", Sum: "h1:abc="},
			{Path: "example.com/old", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/new", Version: "v1.1.0", Sum: "h1:def="}},
		},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}
}

// TestInventory: the version line and the module list come from the
// build information, a replaced module listed as what was compiled in.
func TestInventory(t *testing.T) {
	in := From(testBuild())
	if got := in.Short(); got != "v1.2.3 (commit 0123456789ab, modified) go1.26.8" {
		t.Fatalf("short: %q", got)
	}
	if len(in.Modules) != 2 || in.Modules[1].Path != "example.com/new" || in.Modules[1].Version != "v1.1.0" {
		t.Fatalf("modules: %+v", in.Modules)
	}
}

// TestSBOM: a CycloneDX 1.5 document with the application and each module
// as a library with its golang package URL.
func TestSBOM(t *testing.T) {
	b, err := SBOM(From(testBuild()), time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		BOMFormat, SpecVersion, SerialNumber string
		Metadata                             struct {
			Timestamp string
			Component struct{ Type, Name, Version, PURL string }
		}
		Components   []struct{ Type, Name, Version, PURL string }
		Dependencies []struct {
			Ref       string
			DependsOn []string
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.BOMFormat != "CycloneDX" || doc.SpecVersion != "1.5" || !strings.HasPrefix(doc.SerialNumber, "urn:uuid:") || len(doc.SerialNumber) != 45 ||
		doc.Metadata.Component.Type != "application" || doc.Metadata.Component.PURL != "pkg:golang/github.com/bulwark-shop/bulwark@v1.2.3" ||
		doc.Metadata.Timestamp != "2026-12-04T00:00:00Z" {
		t.Fatalf("document: %s", b)
	}
	if len(doc.Components) != 2 || doc.Components[0].PURL != "pkg:golang/github.com/tink-crypto/tink-go/v2@v2.9.0" || doc.Components[1].Name != "example.com/new" ||
		len(doc.Dependencies) != 1 || len(doc.Dependencies[0].DependsOn) != 2 {
		t.Fatalf("components: %s", b)
	}
}

func TestModulesDigest(t *testing.T) {
	a := Info{Modules: []Module{{Path: "x", Version: "v1.0.0"}, {Path: "y", Version: "v2.0.0"}}}
	b := Info{Modules: []Module{{Path: "x", Version: "v1.0.1"}, {Path: "y", Version: "v2.0.0"}}}
	if d := a.ModulesDigest(); len(d) != 16 || d == b.ModulesDigest() || d != a.ModulesDigest() {
		t.Fatalf("digests %s %s", a.ModulesDigest(), b.ModulesDigest())
	}
}
