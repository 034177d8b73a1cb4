package httpapi

import (
	"net/http"
	"strconv"

	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
)

// The audit log (issue 15, "Assurance"): its records, its latest signed
// checkpoint, and proofs that a record is in it and that one size of it
// extends another. Hashes are base64, as in the checkpoints.

// auditTimeLayout keeps the record's microseconds: its hash covers them.
const auditTimeLayout = "2006-01-02T15:04:05.000000Z"

type auditRecordJSON struct {
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

func toAuditRecordJSON(r audit.Record) auditRecordJSON {
	return auditRecordJSON{Seq: r.Seq, Time: r.Time.UTC().Format(auditTimeLayout), Actor: r.Actor, Action: r.Action, Target: r.Target,
		Outcome: r.Outcome, IP: r.IP, RequestID: r.RequestID, Detail: r.Detail, PrevHash: r.PrevHash, Hash: r.Hash}
}

func (a *API) auditLog() (*audit.Reader, error) {
	if a.AuditLog == nil {
		return nil, apperr.NotFound("audit log")
	}
	return a.AuditLog, nil
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	l, err := a.auditLog()
	if err != nil {
		return err
	}
	qs := r.URL.Query()
	q, err := audit.ParseQuery(qs.Get("actor"), qs.Get("action"), qs.Get("target"), qs.Get("since"), qs.Get("until"), qs.Get("limit"), qs.Get("cursor"))
	if err != nil {
		return err
	}
	recs, more, err := l.Records(r.Context(), q)
	if err != nil {
		return err
	}
	listOf(w, recs, more, toAuditRecordJSON, func(r audit.Record) string { return strconv.FormatInt(r.Seq, 10) })
	return nil
}

// auditCheckpoint answers the latest checkpoint as its signed note, the
// text any checkpoint verifier reads.
func (a *API) auditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	l, err := a.auditLog()
	if err != nil {
		return err
	}
	cp, err := l.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Last-Modified", cp.At.UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(cp.Note)
	return err
}

type auditProofJSON struct {
	Record     auditRecordJSON `json:"record"`
	LeafIndex  uint64          `json:"leaf_index"`
	TreeSize   uint64          `json:"tree_size"`
	Proof      [][]byte        `json:"proof"`
	Root       []byte          `json:"root"`
	Checkpoint *string         `json:"checkpoint"`
}

// parseSize reads a tree size parameter; absent is 0 (the latest
// checkpoint's).
func parseSize(v *apperr.Validator, name, s string) uint64 {
	if s == "" {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 63)
	v.Check(err == nil && n >= 1 && strconv.FormatUint(n, 10) == s, name, "a tree size: a whole number from 1")
	return n
}

func noteOrNull(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

func (a *API) auditProof(w http.ResponseWriter, r *http.Request) error {
	l, err := a.auditLog()
	if err != nil {
		return err
	}
	var v apperr.Validator
	seq, perr := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	v.Check(perr == nil && seq >= 1, "seq", "a record's sequence number, from 1")
	size := parseSize(&v, "size", r.URL.Query().Get("size"))
	if err := v.Err(); err != nil {
		return err
	}
	in, err := l.Proof(r.Context(), seq, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, auditProofJSON{Record: toAuditRecordJSON(in.Record), LeafIndex: uint64(in.Record.Seq - 1), TreeSize: in.Size,
		Proof: in.Proof, Root: in.Root, Checkpoint: noteOrNull(in.Checkpoint)})
	return nil
}

type auditConsistencyJSON struct {
	From           uint64   `json:"from"`
	To             uint64   `json:"to"`
	Proof          [][]byte `json:"proof"`
	FromRoot       []byte   `json:"from_root"`
	ToRoot         []byte   `json:"to_root"`
	FromCheckpoint *string  `json:"from_checkpoint"`
	ToCheckpoint   *string  `json:"to_checkpoint"`
}

func (a *API) auditConsistency(w http.ResponseWriter, r *http.Request) error {
	l, err := a.auditLog()
	if err != nil {
		return err
	}
	var v apperr.Validator
	qs := r.URL.Query()
	v.Check(qs.Get("from") != "", "from", "a tree size: a whole number from 1")
	from := parseSize(&v, "from", qs.Get("from"))
	to := parseSize(&v, "to", qs.Get("to"))
	if err := v.Err(); err != nil {
		return err
	}
	c, err := l.Consistency(r.Context(), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, auditConsistencyJSON{From: c.From, To: c.To, Proof: c.Proof, FromRoot: c.FromRoot, ToRoot: c.ToRoot,
		FromCheckpoint: noteOrNull(c.FromCheckpoint), ToCheckpoint: noteOrNull(c.ToCheckpoint)})
	return nil
}
