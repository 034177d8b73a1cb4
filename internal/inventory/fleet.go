package inventory

import (
	"sort"
	"strings"
	"time"
)

// Start is one server start or stop as the audit log records it (actions
// server.start and server.stop; the actor is the instance).
type Start struct {
	Instance string
	At       time.Time
	Stop     bool
	// Detail is the start record's detail: "listen=… version=… modules=…".
	Detail string
}

// Build is a version of the shop and how many instances run it.
type Build struct {
	Version string `json:"version"`
	Modules string `json:"modules"`
	// Instances are those whose last record is this build's start.
	Instances []string  `json:"instances"`
	LastStart time.Time `json:"last_start"`
}

// Fleet groups the instances running now by build, from their start and
// stop records in order: an instance runs from its start to its stop. An
// instance killed without a stop record still counts; the caller bounds
// the records by time so that one leaves the view.
func Fleet(records []Start) []Build {
	last := map[string]Start{}
	for _, r := range records {
		last[r.Instance] = r
	}
	byBuild := map[string]*Build{}
	for inst, r := range last {
		if r.Stop {
			continue
		}
		v, m := field(r.Detail, "version"), field(r.Detail, "modules")
		b := byBuild[v+" "+m]
		if b == nil {
			b = &Build{Version: v, Modules: m}
			byBuild[v+" "+m] = b
		}
		b.Instances = append(b.Instances, inst)
		if r.At.After(b.LastStart) {
			b.LastStart = r.At
		}
	}
	out := make([]Build, 0, len(byBuild))
	for _, b := range byBuild {
		sort.Strings(b.Instances)
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i].Instances) != len(out[j].Instances) {
			return len(out[i].Instances) > len(out[j].Instances)
		}
		return out[i].Version+out[i].Modules < out[j].Version+out[j].Modules
	})
	return out
}

// field returns the value of key in a "k=v k=v" detail ("unknown" when
// absent: a start recorded before the field existed).
func field(detail, key string) string {
	for _, f := range strings.Fields(detail) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	return "unknown"
}
