package httpapi

import "time"

// TimestampLayout is the one way the API writes a time: RFC 3339 in UTC with
// exactly three fractional digits (milliseconds, truncated), for example
// "2026-12-01T23:22:22.261Z". One fixed precision means an answer to a create
// and a later read of the same record give the same string: encoding/json's
// default trims trailing zeros and wrote the in-memory nanoseconds on create
// but the database's microseconds on read (issue 11).
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// Timestamp is a time in an answer, written in TimestampLayout.
type Timestamp time.Time

// MarshalJSON writes t in TimestampLayout.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(TimestampLayout) + `"`), nil
}

// stamp returns a pointer to t as a Timestamp, for optional fields.
func stamp(t time.Time) *Timestamp {
	ts := Timestamp(t)
	return &ts
}
