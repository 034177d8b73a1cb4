package webhook

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// DefaultSchedule is the wait before each retry after a failed attempt, as
// Standard Webhooks recommends (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h): a
// delivery is tried 8 times over about 28 hours, then dead-lettered.
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// DefaultScheduleText is DefaultSchedule as the webhook-retry-schedule setting writes it.
const DefaultScheduleText = "5s,5m,30m,2h,5h,10h,10h"

// ParseSchedule reads a comma-separated list of durations (the
// webhook-retry-schedule setting): the wait before each retry.
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration", f)
		}
		out = append(out, d)
	}
	if len(out) == 0 || len(out) > 20 {
		return nil, errors.New("want 1 to 20 durations")
	}
	return out, nil
}

// Backoff returns the wait before the next attempt after the attempts-th
// failed one, with up to a fifth of jitter either way (so that deliveries
// failed together by one outage do not all retry at one instant), or false
// when the schedule has run out: the delivery is dead. jitter is a number in
// [0, 1); Jitter gives a random one.
func Backoff(schedule []time.Duration, attempts int, jitter float64) (time.Duration, bool) {
	if attempts < 1 || attempts > len(schedule) {
		return 0, false
	}
	d := schedule[attempts-1]
	return d + time.Duration((jitter*2-1)*0.2*float64(d)), true
}

// Jitter is a random number in [0, 1) for Backoff.
func Jitter() float64 { return rand.Float64() }
