package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSyslogFraming: a record is one RFC 5424 message whatever its fields
// hold: a newline cannot start a forged second message, and '"', '\' and
// ']' cannot end the structured data early.
func TestSyslogFraming(t *testing.T) {
	r := Seal(Record{Time: time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC), Actor: "usr_1", Action: "user.login",
		Target: `x"] [forged@1 a="b`, Outcome: Failure, IP: "192.0.2.1", RequestID: "req_1",
		Detail: "wrong password\n<13>1 2026-12-01T10:00:00Z evil bulwark - user.login - forged\\"}, 0, GenesisHash)
	line := Syslog(r, "shop host")
	if strings.ContainsAny(line, "\r\n") {
		t.Fatalf("more than one line: %q", line)
	}
	want := `<109>1 2026-12-01T10:00:00.123456Z shop_host bulwark - user.login [audit@32473 seq="1" actor="usr_1" target="x\"\] [forged@1 a=\"b" outcome="failure"`
	if !strings.HasPrefix(line, want) {
		t.Fatalf("got  %s\nwant %s…", line, want)
	}
	if !strings.Contains(line, "] \ufeffwrong password <13>1") {
		t.Fatalf("message: %q", line)
	}
	ok := Seal(Record{Time: r.Time, Actor: "system", Action: "key.kek_create", Outcome: Success}, 1, r.Hash)
	if got := Syslog(ok, ""); !strings.HasPrefix(got, "<110>1 2026-12-01T10:00:00.123456Z - bulwark - key.kek_create [") || strings.Contains(got, "\ufeff") {
		t.Fatalf("a success with no detail: %q", got)
	}
}

// TestOCSFShape: sign-ins are Authentication events, the rest API
// Activity, with the class, activity and type ids OCSF defines.
func TestOCSFShape(t *testing.T) {
	var buf bytes.Buffer
	ex, err := NewExporter(&buf, FormatJSONL, "")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, r := range []Record{
		{Seq: 1, Time: at, Actor: "usr_1", Action: ActionLogin, Outcome: Failure, IP: "192.0.2.1"},
		{Seq: 2, Time: at, Actor: "usr_2", Action: ActionProductCreate, Target: "prod_1", Outcome: Success, RequestID: "req_9"},
		{Seq: 3, Time: at, Actor: "usr_2", Action: ActionRead, Outcome: Success},
	} {
		if err := ex.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := ex.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	want := []struct{ class, activity, typ, status int }{{3002, 1, 300201, 2}, {6003, 1, 600301, 1}, {6003, 2, 600302, 1}}
	for i, l := range lines {
		var ev struct {
			ClassUID   int `json:"class_uid"`
			ActivityID int `json:"activity_id"`
			TypeUID    int `json:"type_uid"`
			StatusID   int `json:"status_id"`
			Time       int64
			Actor      struct{ User struct{ UID string } }
			Metadata   struct{ Sequence int64 }
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		w := want[i]
		if ev.ClassUID != w.class || ev.ActivityID != w.activity || ev.TypeUID != w.typ || ev.StatusID != w.status ||
			ev.Time != at.UnixMilli() || ev.Actor.User.UID == "" || ev.Metadata.Sequence != int64(i+1) {
			t.Fatalf("line %d: %s", i+1, l)
		}
	}
	if _, err := NewExporter(&buf, "csv", ""); err == nil {
		t.Fatal("an unknown format is taken")
	}
}

// FuzzSyslogOneMessage: whatever a record's fields hold, its syslog form is
// one line whose structured data ends where the exporter ended it.
func FuzzSyslogOneMessage(f *testing.F) {
	f.Add("usr_1", "user.login", `x"]`, "192.0.2.1", "a\nb", "host")
	f.Fuzz(func(t *testing.T, actor, action, target, ip, detail, host string) {
		r := Record{Seq: 7, Time: time.Unix(1700000000, 0), Actor: actor, Action: action, Target: target, Outcome: Success, IP: ip, Detail: detail}
		line := Syslog(r, host)
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("two lines: %q", line)
		}
		// The structured data: from its "[" to the first "]" not escaped.
		sd := line[strings.Index(line, " [audit@")+2:]
		end := -1
		for i := 0; i < len(sd); i++ {
			if sd[i] == '\\' {
				i++
				continue
			}
			if sd[i] == ']' {
				end = i
				break
			}
		}
		if end < 0 || !strings.HasSuffix(sd[:end], `prev_hash=""`) {
			t.Fatalf("structured data ends early or not at all: %q", line)
		}
	})
}
