package edge

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store shared by every instance using the same Redis server. Time
// comes from the instances (their clocks should agree, as NTP keeps them); the
// script only compares and stores.
type Redis struct {
	c      *redis.Client
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store on c with keys under prefix.
func NewRedis(c *redis.Client, prefix string) *Redis { return &Redis{c: c, prefix: prefix} }

// gcra decides one request in one atomic script. Times are microseconds since
// the epoch: exact in Lua's doubles, and written back with %.0f because
// tostring would round them to 14 digits. ARGV: now, interval, tolerance.
var gcra = redis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call("GET", KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + interval
if nxt - now > tolerance then return {0, string.format("%.0f", tat)} end
redis.call("SET", KEYS[1], string.format("%.0f", nxt), "PX", math.ceil((nxt - now) / 1000) + 1)
return {1, string.format("%.0f", nxt)}`)

// Take applies GCRA to key.
func (r *Redis) Take(ctx context.Context, key string, now time.Time, interval, tolerance time.Duration) (bool, time.Time, error) {
	res, err := gcra.Run(ctx, r.c, []string{r.prefix + key}, now.UnixMicro(), interval.Microseconds(), tolerance.Microseconds()).Slice()
	if err != nil {
		return false, time.Time{}, fmt.Errorf("redis gcra: %w", err)
	}
	if len(res) != 2 {
		return false, time.Time{}, fmt.Errorf("redis gcra: unexpected answer %v", res)
	}
	allowed, _ := res[0].(int64)
	s, _ := res[1].(string)
	var micros int64
	if _, err := fmt.Sscan(s, &micros); err != nil {
		return false, time.Time{}, fmt.Errorf("redis gcra: TAT %q: %w", s, err)
	}
	return allowed == 1, time.UnixMicro(micros), nil
}
