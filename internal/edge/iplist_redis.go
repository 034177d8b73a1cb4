package edge

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBlocks keeps dynamic blocks in Redis, shared by every instance on the
// server and by the CLI. The key holds the block's end (Unix milliseconds on
// the shop's clock), a space and the reason, and expires a little after the
// end, so the shop's clock decides and Redis cleans up.
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
local cur = tonumber(string.match(redis.call("GET", KEYS[1]) or "0", "^%d+") or "0")
local untilms = tonumber(ARGV[1])
if untilms > cur then redis.call("SET", KEYS[1], ARGV[1] .. " " .. ARGV[3], "PX", ARGV[2]) end
return 1`)

// Block refuses a until until; it returns Redis's error.
func (r *RedisBlocks) Block(ctx context.Context, a netip.Addr, until time.Time, reason string) error {
	ttl := until.Sub(r.now()) + time.Minute
	if ttl <= time.Minute {
		return nil
	}
	return extend.Run(ctx, r.c, []string{r.prefix + a.String()}, until.UnixMilli(), ttl.Milliseconds(), reason).Err()
}

// parse reads a key's value: the end in Unix milliseconds, and the reason.
func parseRedisBlock(v string) (int64, string, bool) {
	ms, reason, _ := strings.Cut(v, " ")
	n, err := strconv.ParseInt(ms, 10, 64)
	return n, reason, err == nil
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
	ms, _, ok := parseRedisBlock(v)
	if !ok {
		return true, nil // a value we did not write: stay closed
	}
	return r.now().UnixMilli() < ms, nil
}

// List returns the blocks in force, scanning the prefix; it returns Redis's error.
func (r *RedisBlocks) List(ctx context.Context) ([]Block, error) {
	var out []Block
	now := r.now().UnixMilli()
	iter := r.c.Scan(ctx, 0, r.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		a, err := netip.ParseAddr(strings.TrimPrefix(key, r.prefix))
		if err != nil {
			continue // not one of ours
		}
		v, err := r.c.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			continue // expired between the scan and the read
		}
		if err != nil {
			return nil, fmt.Errorf("read block %s: %w", a, err)
		}
		ms, reason, ok := parseRedisBlock(v)
		if !ok || ms <= now {
			continue
		}
		out = append(out, Block{ID: BlockID(a), Address: a.String(), Until: time.UnixMilli(ms).UTC(), Reason: reason})
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("scan blocks: %w", err)
	}
	return out, nil
}

// Lift ends a's block; it returns Redis's error.
func (r *RedisBlocks) Lift(ctx context.Context, a netip.Addr) (bool, error) {
	blocked, err := r.Blocked(ctx, a)
	if err != nil {
		return false, err
	}
	if err := r.c.Del(ctx, r.prefix+a.String()).Err(); err != nil {
		return false, err
	}
	return blocked, nil
}
