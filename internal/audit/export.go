package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Export formats for a SIEM: JSON lines shaped as OCSF events, and syslog
// messages as RFC 5424 frames them.
const (
	FormatJSONL  = "jsonl"
	FormatSyslog = "syslog"
)

// ActionExport is the record of an export: a read of the whole log.
const ActionExport = "audit.export"

// Exporter writes records in one format, a line each.
type Exporter struct {
	w        *bufio.Writer
	format   string
	hostname string
}

// NewExporter returns an exporter of format to w; hostname names this
// machine in syslog lines ("" is written as syslog's nil value).
func NewExporter(w io.Writer, format, hostname string) (*Exporter, error) {
	if format != FormatJSONL && format != FormatSyslog {
		return nil, fmt.Errorf("export format %q: want %s or %s", format, FormatJSONL, FormatSyslog)
	}
	return &Exporter{w: bufio.NewWriter(w), format: format, hostname: hostname}, nil
}

// Write writes one record.
func (e *Exporter) Write(r Record) error {
	var err error
	if e.format == FormatJSONL {
		err = e.jsonl(r)
	} else {
		_, err = e.w.WriteString(Syslog(r, e.hostname) + "\n")
	}
	if err != nil {
		return fmt.Errorf("export audit record %d: %w", r.Seq, err)
	}
	return nil
}

// Flush writes what is buffered.
func (e *Exporter) Flush() error { return e.w.Flush() }

// OCSF (the Open Cybersecurity Schema Framework, 1.1): a sign-in or out is
// an Authentication event (class 3002), everything else an API Activity
// (class 6003) whose activity is read from the action's verb.
const (
	ocsfVersion        = "1.1.0"
	ocsfAuthentication = 3002
	ocsfAPIActivity    = 6003
)

type ocsfEvent struct {
	ClassUID     int               `json:"class_uid"`
	ClassName    string            `json:"class_name"`
	CategoryUID  int               `json:"category_uid"`
	CategoryName string            `json:"category_name"`
	ActivityID   int               `json:"activity_id"`
	ActivityName string            `json:"activity_name"`
	TypeUID      int               `json:"type_uid"`
	Time         int64             `json:"time"`
	SeverityID   int               `json:"severity_id"`
	Severity     string            `json:"severity"`
	StatusID     int               `json:"status_id"`
	Status       string            `json:"status"`
	Message      string            `json:"message"`
	Actor        ocsfActor         `json:"actor"`
	SrcEndpoint  *ocsfEndpoint     `json:"src_endpoint,omitempty"`
	API          *ocsfAPI          `json:"api,omitempty"`
	Resources    []ocsfResource    `json:"resources,omitempty"`
	Metadata     ocsfMetadata      `json:"metadata"`
	Unmapped     map[string]string `json:"unmapped"`
}

type ocsfActor struct {
	User struct {
		UID string `json:"uid"`
	} `json:"user"`
}

type ocsfEndpoint struct {
	IP string `json:"ip"`
}

type ocsfAPI struct {
	Operation string `json:"operation"`
	Request   struct {
		UID string `json:"uid,omitempty"`
	} `json:"request"`
}

type ocsfResource struct {
	UID string `json:"uid"`
}

type ocsfMetadata struct {
	Version string `json:"version"`
	Product struct {
		Name       string `json:"name"`
		VendorName string `json:"vendor_name"`
	} `json:"product"`
	UID      string `json:"uid"`
	Sequence int64  `json:"sequence"`
	LogName  string `json:"log_name"`
}

// OCSF returns r as an OCSF event.
func OCSF(r Record) any {
	ev := ocsfEvent{Time: r.Time.UnixMilli(), SeverityID: 1, Severity: "Informational", StatusID: 1, Status: "Success",
		Message: r.Detail, Unmapped: map[string]string{"action": r.Action, "hash": r.Hash, "prev_hash": r.PrevHash,
			"time_us": strconv.FormatInt(r.Time.UnixMicro(), 10)}}
	if r.Outcome != Success {
		ev.StatusID, ev.Status = 2, "Failure"
	}
	ev.Actor.User.UID = r.Actor
	if r.IP != "" {
		ev.SrcEndpoint = &ocsfEndpoint{IP: r.IP}
	}
	if r.Target != "" {
		ev.Resources = []ocsfResource{{UID: r.Target}}
	}
	ev.Metadata.Version, ev.Metadata.UID, ev.Metadata.Sequence, ev.Metadata.LogName = ocsfVersion, strconv.FormatInt(r.Seq, 10), r.Seq, "audit"
	ev.Metadata.Product.Name, ev.Metadata.Product.VendorName = "Bulwark", "Bulwark"
	switch r.Action {
	case ActionLogin, ActionLogout:
		ev.ClassUID, ev.ClassName, ev.CategoryUID, ev.CategoryName = ocsfAuthentication, "Authentication", 3, "Identity & Access Management"
		ev.ActivityID, ev.ActivityName = 1, "Logon"
		if r.Action == ActionLogout {
			ev.ActivityID, ev.ActivityName = 2, "Logoff"
		}
	default:
		ev.ClassUID, ev.ClassName, ev.CategoryUID, ev.CategoryName = ocsfAPIActivity, "API Activity", 6, "Application Activity"
		ev.ActivityID, ev.ActivityName = apiActivity(r.Action)
		ev.API = &ocsfAPI{Operation: r.Action}
		ev.API.Request.UID = r.RequestID
	}
	ev.TypeUID = ev.ClassUID*100 + ev.ActivityID
	return ev
}

// apiActivity reads an OCSF API activity from an action's verb
// ("product.create" is a Create): Other when none fits.
func apiActivity(action string) (int, string) {
	_, verb, _ := strings.Cut(action, ".")
	switch {
	case strings.HasPrefix(verb, "create"), strings.HasPrefix(verb, "register"), strings.HasPrefix(verb, "add"), strings.HasSuffix(verb, "_create"):
		return 1, "Create"
	case strings.HasPrefix(verb, "read"), strings.HasPrefix(verb, "detokenize"), strings.HasPrefix(verb, "export"):
		return 2, "Read"
	case strings.HasPrefix(verb, "update"), strings.HasSuffix(verb, "_change"), strings.HasPrefix(verb, "rotate"), strings.HasPrefix(verb, "set"):
		return 3, "Update"
	case strings.HasPrefix(verb, "delete"), strings.HasPrefix(verb, "erase"), strings.HasPrefix(verb, "revoke"):
		return 4, "Delete"
	}
	return 99, "Other"
}

func (e *Exporter) jsonl(r Record) error {
	b, err := json.Marshal(OCSF(r))
	if err != nil {
		return err
	}
	if _, err := e.w.Write(b); err != nil {
		return err
	}
	return e.w.WriteByte('\n')
}

// syslogEnterprise is the private enterprise number of the structured data
// element: 32473 is the one RFC 5612 reserves for documentation and
// examples, until the project registers its own.
const syslogEnterprise = "32473"

// Syslog returns r as one RFC 5424 message: facility 13 (log audit),
// severity informational (a success) or notice (a failure), the action as
// MSGID, the record's fields as structured data, and its detail as the
// message in UTF-8 (with the byte order mark RFC 5424 asks for).
func Syslog(r Record, hostname string) string {
	severity := 6
	if r.Outcome != Success {
		severity = 5
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s bulwark - %s [audit@%s", 13*8+severity, r.Time.UTC().Format("2006-01-02T15:04:05.000000Z"),
		header(hostname, 255), header(r.Action, 32), syslogEnterprise)
	for _, p := range []struct{ k, v string }{{"seq", strconv.FormatInt(r.Seq, 10)}, {"actor", r.Actor}, {"target", r.Target},
		{"outcome", r.Outcome}, {"ip", r.IP}, {"request_id", r.RequestID}, {"hash", r.Hash}, {"prev_hash", r.PrevHash}} {
		b.WriteString(" " + p.k + `="` + paramValue(p.v) + `"`)
	}
	b.WriteString("]")
	if r.Detail != "" {
		b.WriteString(" \ufeff" + oneLine(r.Detail))
	}
	return b.String()
}

// header is a syslog header field: printable US-ASCII without spaces, at
// most max characters, "-" when empty.
func header(s string, max int) string {
	var b strings.Builder
	for _, c := range s {
		if b.Len() == max {
			break
		}
		if c > 32 && c < 127 {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// paramValue escapes a structured-data value: '"', '\' and ']' take a
// backslash (RFC 5424 6.3.3); the value stays on one line.
func paramValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(oneLine(s))
}

// oneLine keeps a value on its line: control characters (a forged second
// message) become spaces, and invalid UTF-8 the replacement character.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	return strings.Map(func(c rune) rune {
		if c < 32 || c == 127 {
			return ' '
		}
		return c
	}, s)
}
