package edge

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBlocks keeps dynamic blocks in Redis, shared by every instance on the server.
// The key holds the block's end (Unix milliseconds on the shop's clock) and
// expires a little after it, so the shop's clock decides and Redis cleans up.
type RedisBlocks struct {
	c      *redis.Client
	prefix string
	now    func() time.Time
}

var _ Blocks = (*RedisBlocks)(nil)

// NewRedisBlocks returns a block list on c with keys under prefix.
func NewRedisBlocks(c *redis.Client, prefix string, now func() time.Time) *RedisBlocks {
	return &RedisBlocks{c: c, prefix: prefix, now: now}
}

// extend sets the key to ARGV[1] unless it already holds a later end.
var extend = redis.NewScript(`
local cur = tonumber(redis.call("GET", KEYS[1]) or "0")
local untilms = tonumber(ARGV[1])
if untilms > cur then redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2]) end
return 1`)

// Block refuses a until until; it returns Redis's error.
func (r *RedisBlocks) Block(ctx context.Context, a netip.Addr, until time.Time) error {
	ttl := until.Sub(r.now()) + time.Minute
	if ttl <= time.Minute {
		return nil
	}
	return extend.Run(ctx, r.c, []string{r.prefix + a.String()}, until.UnixMilli(), ttl.Milliseconds()).Err()
}

// Blocked reports whether a is blocked now; it returns Redis's error.
func (r *RedisBlocks) Blocked(ctx context.Context, a netip.Addr) (bool, error) {
	v, err := r.c.Get(ctx, r.prefix+a.String()).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return true, nil // a value we did not write: stay closed
	}
	return r.now().UnixMilli() < ms, nil
}
