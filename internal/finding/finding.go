// Package finding is what Bulwark's detectors conclude (issue 14): a finding
// names a kind of attack, the subject it is about (an address, an account or
// a card fingerprint), how severe it is and how often it was seen, and moves
// through a small lifecycle that staff drive.
//
// The types are named in GuardDuty's style, ThreatPurpose:Resource/Name, and
// each carries its OWASP AppSensor detection point, so an analyst used to
// either reads them without a glossary.
package finding

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Type is a kind of finding.
type Type string

// The finding types.
const (
	// AccountBruteForce: many failed sign-ins to one account (AppSensor AE3,
	// high rate of login attempts).
	AccountBruteForce Type = "CredentialAccess:Account/BruteForce"
	// CredentialStuffing: one address failing sign-ins across many accounts
	// (AE12, utilization of common usernames).
	CredentialStuffing Type = "CredentialAccess:Ip/CredentialStuffing"
	// CardTesting: many declined small payments with one card or from one
	// address (Stripe's "card testing"; AppSensor has no point for payments).
	CardTesting Type = "Fraud:Card/CardTesting"
	// Scanning: one address requesting many paths that do not exist (ACE3,
	// force browsing attempt).
	Scanning Type = "Recon:Ip/Scanning"
	// WAFProbe: one address sending many requests the WAF refuses (CIE1,
	// common SQL injection values, stands for the Core Rule Set's families).
	WAFProbe Type = "Recon:Ip/WafProbe"
	// TakeoverSuspected: a sign-in from a new network followed by a change of
	// password, email, MFA or payment method (AppSensor has no one point for
	// the sequence).
	TakeoverSuspected Type = "Impact:Account/TakeoverSuspected"
	// PostureCheckFailed: a posture check fails (package posture); the
	// subject is the check, the evidence its remedy. Resolved by the run
	// in which the check passes again.
	PostureCheckFailed Type = "Policy:Posture/CheckFailed"
	// PostureScoreDropped: a standard's posture score fell from one run to
	// the next (a configuration change that opened a hole); the subject is
	// the standard.
	PostureScoreDropped Type = "Policy:Posture/ScoreDropped"
	// SensitiveCardData: sensitive-data discovery found card numbers
	// outside the vault (Macie's SensitiveData:S3Object/Financial); the
	// subject is the location, the evidence masked samples.
	SensitiveCardData Type = "SensitiveData:Location/CardNumber"
	// SensitiveSecret: discovery found private keys or API secrets.
	SensitiveSecret Type = "SensitiveData:Location/Credentials"
	// FIMChanged: a monitored file changed, appeared, went or changed
	// permissions or owner (file integrity monitoring, PCI DSS 11.5.2).
	FIMChanged Type = "Integrity:File/Changed"
	// FIMBaselineInvalid: the file integrity baseline does not verify (it
	// was edited) or does not parse.
	FIMBaselineInvalid Type = "Integrity:File/BaselineInvalid"
	// BackupDrillFailed: a restore drill could not restore or check the
	// newest backup (a corrupt copy, a wrong key, a broken audit log).
	BackupDrillFailed Type = "Backup:Drill/Failed"
)

// DetectionPoint is the OWASP AppSensor detection point of t ("" when none
// fits).
func (t Type) DetectionPoint() string {
	return detectionPoints[t]
}

var detectionPoints = map[Type]string{
	AccountBruteForce:  "AE3",
	CredentialStuffing: "AE12",
	CardTesting:        "",
	Scanning:           "ACE3",
	WAFProbe:           "CIE1",
	TakeoverSuspected:  "",
	// Posture is about the shop's own configuration, not a client's
	// behaviour: no AppSensor point.
	PostureCheckFailed:  "",
	PostureScoreDropped: "",
	SensitiveCardData:   "",
	SensitiveSecret:     "",
	FIMChanged:          "",
	FIMBaselineInvalid:  "",
	BackupDrillFailed:   "",
}

// Known reports whether t is a finding type Bulwark raises.
func (t Type) Known() bool {
	_, ok := detectionPoints[t]
	return ok
}

// SubjectKind is what a finding is about.
type SubjectKind string

// The subject kinds.
const (
	IP      SubjectKind = "ip"
	Account SubjectKind = "account"
	// Card is a card fingerprint: an HMAC of the number under its own key,
	// never the number.
	Card SubjectKind = "card"
	// Check is a posture check id; Standard a compliance standard's.
	Check    SubjectKind = "check"
	Standard SubjectKind = "standard"
	// Location is where discovery found data: "db:table.column" or
	// "file:path".
	Location SubjectKind = "location"
	// File is a monitored file's path.
	File SubjectKind = "file"
	// Backup is a backup's id.
	Backup SubjectKind = "backup"
)

// Subject is the address, account or card a finding is about.
type Subject struct {
	Kind SubjectKind `json:"kind"`
	ID   string      `json:"id"`
}

func (s Subject) String() string { return string(s.Kind) + ":" + s.ID }

// Status is where a finding is in its lifecycle.
type Status string

// The statuses. A finding is raised active. Staff resolve it (dealt with: a
// recurrence raises a new finding) or suppress it (known benign: a
// recurrence is counted on it, silently, with no alert and no response).
const (
	Active     Status = "active"
	Resolved   Status = "resolved"
	Suppressed Status = "suppressed"
)

// ErrIllegalTransition is a status change the lifecycle does not allow.
var ErrIllegalTransition = errors.New("illegal finding transition")

// Next returns the status a finding in from moves to when staff set it to
// to, or ErrIllegalTransition. Only an active finding is resolved or
// suppressed; a suppressed one may be resolved (the benign cause is gone).
// Setting the status it already has is allowed (idempotent).
func Next(from, to Status) (Status, error) {
	if from == to && (to == Resolved || to == Suppressed) {
		return to, nil
	}
	switch {
	case from == Active && (to == Resolved || to == Suppressed):
		return to, nil
	case from == Suppressed && to == Resolved:
		return to, nil
	}
	return from, fmt.Errorf("%w: %s to %s", ErrIllegalTransition, from, to)
}

// Finding is one conclusion of the detectors about one subject.
type Finding struct {
	ID       string  `json:"id"`
	Type     Type    `json:"type"`
	Severity int     `json:"severity"` // 0-100
	Status   Status  `json:"status"`
	Subject  Subject `json:"subject"`
	// FirstSeen and LastSeen bound the observations; Count is how many.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int64     `json:"count"`
	// Evidence is what the detector counted (thresholds, windows, counts,
	// rule ids), never a secret.
	Evidence map[string]string `json:"evidence"`
	// Response is what Bulwark did about it ("log", "block-ip 15m", ...).
	Response string `json:"response"`
}

// Observation is one detector firing: what a finding is raised from, or
// added to when the subject already has an active or suppressed finding of
// the type.
type Observation struct {
	Type     Type
	Severity int
	Subject  Subject
	At       time.Time
	Evidence map[string]string
	Response string
	// AlertFrom is the severity from which raising a finding alerts (the
	// alert-severity setting; Finding.Alerts): the finding.raised webhook
	// event is written in the transaction that raises it. 0 never alerts.
	AlertFrom int
}

// Merge adds o to f, a finding of the same type and subject that is active
// or suppressed: one more observation, the later last-seen time, the higher
// severity, the newer evidence and response.
func Merge(f Finding, o Observation) Finding {
	f.Count++
	if o.At.After(f.LastSeen) {
		f.LastSeen = o.At
	}
	if o.At.Before(f.FirstSeen) {
		f.FirstSeen = o.At
	}
	f.Severity = max(f.Severity, ClampSeverity(o.Severity))
	if len(o.Evidence) > 0 {
		seen := f.Evidence[EvidenceAddresses]
		f.Evidence = withAddress(o.Evidence, seen)
	}
	if o.Response != "" {
		f.Response = o.Response
	}
	return f
}

// Raise returns a new active finding with id from o; its response is o's,
// or "log" when o names none.
func Raise(id string, o Observation) Finding {
	response := o.Response
	if response == "" {
		response = "log"
	}
	return Finding{ID: id, Type: o.Type, Severity: ClampSeverity(o.Severity), Status: Active, Subject: o.Subject,
		FirstSeen: o.At, LastSeen: o.At, Count: 1, Evidence: withAddress(o.Evidence, ""), Response: response}
}

// Evidence keys of the source addresses: an observation about an account
// or a card names the client address of the signal that made it
// (EvidenceIP); the finding keeps the distinct ones seen, at most
// MaxAddresses, comma-separated (EvidenceAddresses), with "…" once more
// were seen: staff see where an attack on an account comes from, and a
// flood from a botnet cannot grow a finding without bound.
const (
	EvidenceIP        = "ip"
	EvidenceAddresses = "addresses"
	MaxAddresses      = 10
)

// withAddress returns ev with its EvidenceIP added to the addresses seen
// before (a comma-separated list), bounded; ev itself is not changed.
func withAddress(ev map[string]string, seen string) map[string]string {
	ip := ev[EvidenceIP]
	if ip == "" && seen == "" {
		return ev
	}
	out := make(map[string]string, len(ev)+1)
	for k, v := range ev {
		out[k] = v
	}
	list := []string{}
	if seen != "" {
		list = strings.Split(seen, ",")
	}
	if ip != "" && !slices.Contains(list, ip) && !slices.Contains(list, "…") {
		if len(list) < MaxAddresses {
			list = append(list, ip)
		} else {
			list = append(list, "…")
		}
	}
	out[EvidenceAddresses] = strings.Join(list, ",")
	return out
}

// ClampSeverity bounds s to 0-100.
func ClampSeverity(s int) int { return min(max(s, 0), 100) }

// Alerts reports whether f is to be sent to the alert channels configured
// at minimum severity min: active findings only (a suppressed one is known
// benign).
func (f Finding) Alerts(min int) bool { return f.Status == Active && f.Severity >= min }

// The severity levels, the bands of 0-100 that metrics and people use:
// metrics label by level rather than by the number, so a series exists for
// each of four values, not a hundred and one.
const (
	Low      = "low"      // 0-39: worth a look (a scan)
	Medium   = "medium"   // 40-69: an attack under way against a subject
	High     = "high"     // 70-89: an attack that may be succeeding
	Critical = "critical" // 90-100: act now
)

// Level returns the severity level of s.
func Level(s int) string {
	switch s = ClampSeverity(s); {
	case s >= 90:
		return Critical
	case s >= 70:
		return High
	case s >= 40:
		return Medium
	}
	return Low
}

// LevelFloor returns the lowest severity of level, or false for a name that
// is not a level.
func LevelFloor(level string) (int, bool) {
	switch level {
	case Low:
		return 0, true
	case Medium:
		return 40, true
	case High:
		return 70, true
	case Critical:
		return 90, true
	}
	return 0, false
}

// Types lists the finding types, in a stable order.
func Types() []Type {
	return []Type{AccountBruteForce, CredentialStuffing, CardTesting, Scanning, WAFProbe, TakeoverSuspected,
		PostureCheckFailed, PostureScoreDropped, SensitiveCardData, SensitiveSecret, FIMChanged, FIMBaselineInvalid,
		BackupDrillFailed}
}

// Query selects findings for staff: each field that is set narrows the
// list. Pages are newest first (by first sighting), After the last id of
// the page before.
type Query struct {
	Status      Status
	Type        Type
	SeverityMin int
	// Subject matches kind and id; with Kind "" it matches the id alone.
	Subject Subject
	Limit   int
	After   string
}
