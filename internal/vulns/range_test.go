package vulns

import "testing"

// The evaluation of OSV SEMVER events, one range at a time.
func TestInRange(t *testing.T) {
	type events = []map[string]string
	twoRanges := events{{"introduced": "0"}, {"fixed": "1.2.0"}, {"introduced": "1.5.0"}, {"fixed": "1.5.3"}}
	for _, c := range []struct {
		name    string
		version string
		events  events
		in      bool
		fixed   string
	}{
		{"below the fix", "v1.1.9", twoRanges, true, "1.2.0"},
		{"at the fix", "v1.2.0", twoRanges, false, ""},
		{"just past the fix", "v1.2.1", twoRanges, false, ""},
		{"just below the second introduced", "v1.4.99", twoRanges, false, ""},
		{"at the second introduced", "v1.5.0", twoRanges, true, "1.5.3"},
		{"below the second fix", "v1.5.2", twoRanges, true, "1.5.3"},
		{"at the second fix", "v1.5.3", twoRanges, false, ""},
		{"a pseudo-version before any release", "v0.0.0-20200101000000-abcdefabcdef", twoRanges, true, "1.2.0"},
		{"a pre-release of the fix", "v1.2.0-rc.1", twoRanges, true, "1.2.0"},
		{"+incompatible", "v2.0.0+incompatible", events{{"introduced": "2.0.0"}, {"fixed": "2.1.0"}}, true, "2.1.0"},
		{"events out of order", "v1.5.1", events{{"fixed": "1.5.3"}, {"introduced": "1.5.0"}, {"fixed": "1.2.0"}, {"introduced": "0"}}, true, "1.5.3"},
		{"no fix yet", "v9.9.9", events{{"introduced": "1.0.0"}}, true, ""},
		{"below a later introduced, no fix", "v0.9.0", events{{"introduced": "1.0.0"}}, false, ""},
		{"at last_affected", "v2.0.0", events{{"introduced": "1.0.0"}, {"last_affected": "2.0.0"}}, true, ""},
		{"past last_affected", "v2.0.1", events{{"introduced": "1.0.0"}, {"last_affected": "2.0.0"}}, false, ""},
		{"no introduced: from the first version", "v0.1.0", events{{"fixed": "1.0.0"}}, true, "1.0.0"},
		{"no introduced, past the fix", "v1.0.0", events{{"fixed": "1.0.0"}}, false, ""},
		{"a pre-release introduced: a release candidate", "v1.21.0-rc.1", events{{"introduced": "1.21.0-0"}, {"fixed": "1.21.4"}}, true, "1.21.4"},
		{"a pre-release introduced: the last release before", "v1.20.99", events{{"introduced": "1.21.0-0"}, {"fixed": "1.21.4"}}, false, ""},
		{"one event naming two kinds, every time the same", "v1.0.0", events{{"introduced": "1.0.0", "fixed": "1.0.0"}}, false, ""},
		{"events that are not versions are ignored", "v1.1.0", events{{"introduced": "x"}, {"fixed": "1.2.0"}, {"limit": "1.0.0"}}, true, "1.2.0"},
		{"no events", "v1.0.0", nil, false, ""},
		{"only events that are not versions", "v1.0.0", events{{"introduced": "latest"}}, false, ""},
		{"a version that is not one", "(devel)", twoRanges, false, ""},
		{"an empty version", "", twoRanges, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			for range 20 { // map order must not matter
				in, fixed := inRange(c.version, c.events)
				if in != c.in || fixed != c.fixed {
					t.Fatalf("inRange(%q) = %v, %q; want %v, %q", c.version, in, fixed, c.in, c.fixed)
				}
			}
		})
	}
}

func TestGoSemver(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"go1.26.8", "v1.26.8"},
		{"go1.21", "v1.21.0"},
		{"go1.27rc2", "v1.27.0-rc.2"},
		{"go1.27beta1", "v1.27.0-beta.1"},
		{"go1.26.8 X:boringcrypto", "v1.26.8"},
		{"devel go1.27-abcdef", ""},
		{"", ""},
	} {
		if got := goSemver(c.in); got != c.want {
			t.Errorf("goSemver(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
