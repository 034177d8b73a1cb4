package inventory

import (
	"testing"
	"time"
)

func TestFleet(t *testing.T) {
	at := time.Unix(1e9, 0)
	recs := []Start{
		{Instance: "ins_a", At: at, Detail: "listen=:1 version=v1.0.0 modules=aaaa"},
		{Instance: "ins_b", At: at, Detail: "listen=:2 version=v1.0.0 modules=aaaa"},
		{Instance: "ins_c", At: at, Detail: "listen=:3 version=v1.0.0 modules=aaaa"},
		{Instance: "ins_c", At: at.Add(time.Hour), Stop: true},
		{Instance: "ins_d", At: at.Add(2 * time.Hour), Detail: "listen=:4 version=v1.1.0 modules=bbbb"},
		{Instance: "ins_e", At: at, Detail: "listen=:5"},
	}
	got := Fleet(recs)
	if len(got) != 3 || got[0].Version != "v1.0.0" || len(got[0].Instances) != 2 || got[0].Instances[1] != "ins_b" ||
		got[1].Version != "unknown" || got[2].Version != "v1.1.0" || got[2].Modules != "bbbb" || !got[2].LastStart.Equal(at.Add(2*time.Hour)) {
		t.Fatalf("fleet %+v", got)
	}
}
