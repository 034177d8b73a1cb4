package app_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/testenv"
)

type discoveryReport struct {
	Bytes     int64
	Truncated bool
	Sources   []string
	Findings  []struct {
		Location, Kind string
		Count          int64
		TestOnly       bool `json:"test_only"`
		Severity       int
		Samples        []struct {
			Row    string
			Offset int64
			Masked string
			Test   bool
		}
	}
	Errors []string
}

// Discovery finds a card number that reached the shop database (staff
// pasted it into a product's description), a private key and a secret in
// a file it is pointed at; it shows masked samples only, raises findings
// about the locations, and resolves them when the data is gone.
func TestDiscovery(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("discovery@example.com")
		finance := s.staff(admin, "discovery-finance@example.com", "finance")
		p := s.createProduct(admin, "DISC-1", 1)
		const pan = "4539578763621486"
		s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: admin,
			body: map[string]any{"description": "Ordered by phone, card " + pan + " exp 12/29; test card 4242 4242 4242 4242"}})
		s.must(404, req{method: "GET", path: "/api/v1/admin/discovery", token: admin})

		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "app.log"), []byte("boot\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\naws=AKIAIOSFODNN7EXAMPLE\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI(t, s.Config, "", "discover", "--json", dir)
		if code != 0 {
			t.Fatalf("discover: exit %d\n%s%s", code, out, errOut)
		}
		if strings.Contains(out, pan) || strings.Contains(out, "IOSFODNN7EXAMPLE") || strings.Contains(out, "MHcCAQEE") {
			t.Fatalf("discover printed what it found:\n%s", out)
		}
		var rep discoveryReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		byKey := map[string]int{}
		for i, f := range rep.Findings {
			byKey[f.Location+" "+f.Kind] = i
		}
		i, ok := byKey["db:products.description card_number"]
		if !ok {
			t.Fatalf("the card in the product description was not found: %+v", rep.Findings)
		}
		cards := rep.Findings[i]
		if cards.Count != 2 || cards.TestOnly || cards.Severity != 90 || cards.Samples[0].Masked != "453957******1486" ||
			cards.Samples[0].Row != p.ID || !cards.Samples[1].Test {
			t.Fatalf("the card finding: %+v", cards)
		}
		logFile := "file:" + filepath.Join(dir, "app.log")
		for _, k := range []string{logFile + " private_key", logFile + " secret"} {
			if _, ok := byKey[k]; !ok {
				t.Fatalf("no %s in %+v", k, rep.Findings)
			}
		}

		// The API: the same run, admins only.
		s.must(401, req{method: "GET", path: "/api/v1/admin/discovery"})
		s.must(403, req{method: "GET", path: "/api/v1/admin/discovery", token: finance})
		r := s.must(200, req{method: "GET", path: "/api/v1/admin/discovery", token: admin})
		if strings.Contains(string(r.Body), pan) {
			t.Fatal("the API answered the card number")
		}

		// Findings about the locations; posture fails its check.
		var found struct {
			Items []struct {
				Status   string
				Severity int
				Evidence map[string]string
				Subject  struct{ Kind, ID string }
			}
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/findings?type=SensitiveData:Location/CardNumber&subject=location:db:products.description", token: admin}).JSON(t, &found)
		if len(found.Items) != 1 || found.Items[0].Severity != 90 || !strings.Contains(found.Items[0].Evidence["samples"], "453957******1486") ||
			strings.Contains(found.Items[0].Evidence["samples"], pan) {
			t.Fatalf("card finding: %+v", found.Items)
		}
		// (Listed by type: a file path in a query is what the WAF's
		// file-inclusion rules refuse.)
		s.must(200, req{method: "GET", path: "/api/v1/admin/findings?type=SensitiveData:Location/Credentials", token: admin}).JSON(t, &found)
		if len(found.Items) != 1 || found.Items[0].Subject.ID != logFile {
			t.Fatalf("credentials finding: %+v", found.Items)
		}
		var post postureReport
		s.must(200, req{method: "GET", path: "/api/v1/admin/posture", token: admin}).JSON(t, &post)
		if st, detail := post.status(t, "discovery.cards"); st != "fail" || !strings.Contains(detail, "db:products.description") {
			t.Fatalf("discovery.cards: %s %s", st, detail)
		}

		// Cleaned up: the next run resolves the findings.
		s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: admin, body: map[string]any{"description": "A fine thing."}})
		os.Remove(filepath.Join(dir, "app.log"))
		if code, out, errOut := runCLI(t, s.Config, "", "discover", dir); code != 0 || !strings.Contains(out, "discovery at") {
			t.Fatalf("discover: exit %d\n%s%s", code, out, errOut)
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/findings?type=SensitiveData:Location/CardNumber&subject=location:db:products.description", token: admin}).JSON(t, &found)
		if len(found.Items) != 1 || found.Items[0].Status != "resolved" {
			t.Fatalf("after the cleanup: %+v", found.Items)
		}
	})
}
