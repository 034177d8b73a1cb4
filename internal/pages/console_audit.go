package pages

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
)

// The console's audit log page shows the records the API lists and checks
// them against the latest signed checkpoint, through the API like any
// auditor would: the checkpoint's signature with the shop's audit key, each
// record's hash, the hash chain between the records shown, and an inclusion
// proof (transparency-dev's verifier, through audit.VerifyInclusion) of the
// last record of each run of consecutive records in the checkpoint's signed
// root. A record's hash covers the hash of the record before it, so the
// proof of a run's last record commits the whole run: one proof a run, not
// one a record (each proof read is itself an audited read).

// auditPageSize is the records a page shows (and at most the proofs it reads).
const auditPageSize = 25

// auditFilters are the list's filters as the page's form names them.
var auditFilters = []string{"actor", "action", "target", "since", "until"}

// secAuditRecord is a record as the API answers it.
type secAuditRecord struct {
	Seq       int64  `json:"seq"`
	Time      string `json:"time"`
	Actor     string `json:"actor"`
	Action    string `json:"action"`
	Target    string `json:"target"`
	Outcome   string `json:"outcome"`
	IP        string `json:"ip"`
	RequestID string `json:"request_id"`
	Detail    string `json:"detail"`
	PrevHash  string `json:"prev_hash"`
	Hash      string `json:"hash"`
}

// record is r as the audit package's record, for its hash and proofs; a
// time that does not parse gives a record whose hash cannot match.
func (r secAuditRecord) record() audit.Record {
	t, _ := time.Parse(time.RFC3339Nano, r.Time)
	return audit.Record{Seq: r.Seq, Time: t, Actor: r.Actor, Action: r.Action, Target: r.Target, Outcome: r.Outcome,
		IP: r.IP, RequestID: r.RequestID, Detail: r.Detail, PrevHash: r.PrevHash, Hash: r.Hash}
}

// The verdicts of a page of records.
const (
	auditVerified    = "verified"    // every record at or below the checkpoint's size checked
	auditBroken      = "broken"      // something did not verify: Reason says what
	auditNoneYet     = "none"        // no checkpoint has been signed yet
	auditNotCovered  = "not-covered" // the records shown are all newer than the checkpoint
	auditUnavailable = "unavailable" // this server cannot check signatures
	auditNoRecords   = "empty"
)

// auditVerdict is what the page says of the records it shows.
type auditVerdict struct {
	State string
	// Size is the checkpoint's: the records it covers.
	Size int64
	// Checked are the records shown that the checkpoint covers; Newer the
	// others.
	Checked, Newer int
	Reason         string
}

// auditPage is the audit log page's data.
type auditPage struct {
	Items   []secAuditRecord
	Filter  url.Values
	Next    string
	Verdict auditVerdict
}

// consoleAudit lists the audit log through GET /api/v1/admin/audit with
// the filters it supports (actor, action, target, a date range, cursor
// paging) and says whether what it shows verifies.
func (p *page) consoleAudit() error {
	qs := p.r.URL.Query()
	data := auditPage{Filter: keep(qs, auditFilters...)}
	api := keep(qs, "actor", "action", "target", "cursor")
	api.Set("limit", strconv.Itoa(auditPageSize))
	if v := qs.Get("since"); v != "" {
		api.Set("since", dayStart(v, 0))
	}
	if v := qs.Get("until"); v != "" {
		api.Set("until", dayStart(v, 1)) // the form's until is the last day shown
	}
	var list secList[secAuditRecord]
	if err := p.call(http.MethodGet, "/api/v1/admin/audit?"+api.Encode(), nil, &list); err != nil {
		return p.refuseQuery("console-audit.html", "Audit log", data, err)
	}
	data.Items = list.Items
	if list.NextCursor != "" {
		next := keep(data.Filter, auditFilters...)
		next.Set("cursor", list.NextCursor)
		data.Next = next.Encode()
	}
	var err error
	if data.Verdict, err = p.verifyAudit(list.Items); err != nil {
		return err
	}
	return p.show("console-audit.html", "Audit log", data)
}

// dayStart is the start (UTC) of the day date (YYYY-MM-DD) plus days, as
// the API's RFC 3339 time; a value that is no date goes to the API as it
// is, which names it in its refusal.
func dayStart(date string, days int) string {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return date
	}
	return t.AddDate(0, 0, days).Format(time.RFC3339)
}

// verifyAudit checks recs against the latest checkpoint, through the API.
func (p *page) verifyAudit(recs []secAuditRecord) (auditVerdict, error) {
	if len(recs) == 0 {
		return auditVerdict{State: auditNoRecords}, nil
	}
	var note []byte
	if err := p.call(http.MethodGet, "/api/v1/admin/audit/checkpoint", nil, &note); err != nil {
		var e *apiError
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			return auditVerdict{State: auditNoneYet}, nil
		}
		return auditVerdict{}, err
	}
	if p.s.opts.AuditCheckpoints == nil {
		return auditVerdict{State: auditUnavailable}, nil
	}
	cp, err := p.s.opts.AuditCheckpoints.Open(note)
	if err != nil {
		return auditVerdict{State: auditBroken, Reason: "the latest checkpoint is not signed by this shop's audit key"}, nil
	}
	var callErr error
	proofOf := func(seq int64) (secAuditRecord, [][]byte, bool) {
		var out struct {
			Record secAuditRecord `json:"record"`
			Proof  [][]byte       `json:"proof"`
		}
		path := fmt.Sprintf("/api/v1/admin/audit/records/%d/proof?size=%d", seq, cp.Size)
		if err := p.call(http.MethodGet, path, nil, &out); err != nil {
			var e *apiError
			if !errors.As(err, &e) || e.Status >= 500 || e.Status == http.StatusUnauthorized || e.Status == http.StatusTooManyRequests {
				callErr = err
			}
			return secAuditRecord{}, nil, false
		}
		return out.Record, out.Proof, true
	}
	v := verifyRecords(recs, cp, proofOf)
	if callErr != nil {
		return auditVerdict{}, callErr
	}
	return v, nil
}

// verifyRecords checks recs (in sequence order, as the API lists them)
// against the signed checkpoint cp: each covered record's own hash, the
// chain between consecutive ones, and the inclusion proof of the last
// record of each run, which proofOf reads (false when the API gave none).
// The proof is checked against the checkpoint's signed root, never a root
// the API sends beside it.
func verifyRecords(recs []secAuditRecord, cp audit.Checkpoint, proofOf func(seq int64) (secAuditRecord, [][]byte, bool)) auditVerdict {
	v := auditVerdict{State: auditVerified, Size: int64(cp.Size)}
	broken := func(format string, args ...any) auditVerdict {
		v.State, v.Reason = auditBroken, fmt.Sprintf(format, args...)
		return v
	}
	var covered []secAuditRecord
	for _, r := range recs {
		if r.Seq >= 1 && uint64(r.Seq) <= cp.Size {
			covered = append(covered, r)
		} else {
			v.Newer++
		}
	}
	v.Checked = len(covered)
	if len(covered) == 0 {
		v.State = auditNotCovered
		return v
	}
	for i, r := range covered {
		rec := r.record()
		if audit.ComputeHash(rec) != r.Hash {
			return broken("record %d does not match its hash: it was changed after it was written", r.Seq)
		}
		if i > 0 && covered[i-1].Seq == r.Seq-1 && r.PrevHash != covered[i-1].Hash {
			return broken("record %d does not follow record %d in the hash chain", r.Seq, covered[i-1].Seq)
		}
		if i < len(covered)-1 && covered[i+1].Seq == r.Seq+1 {
			continue // the next record's proof covers this one through the chain
		}
		proved, proof, ok := proofOf(r.Seq)
		if !ok {
			return broken("the server gave no proof that record %d is in the checkpoint", r.Seq)
		}
		if proved != r {
			return broken("record %d reads differently in its proof than in the list", r.Seq)
		}
		if err := audit.VerifyInclusion(rec, cp.Size, proof, cp.Root); err != nil {
			return broken("record %d is not in the tree the checkpoint signs", r.Seq)
		}
	}
	return v
}
