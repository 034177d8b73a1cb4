package throttle

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store shared by every instance using the same Redis server.
type Redis struct {
	c      *redis.Client
	prefix string
}

// NewRedis returns a store on c with keys under prefix.
func NewRedis(c *redis.Client, prefix string) *Redis { return &Redis{c: c, prefix: prefix} }

// incr increments and, on the first increment only, sets the expiry, in one
// atomic script: a crash between INCR and PEXPIRE cannot leave a count that
// never expires.
var incr = redis.NewScript(`
local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return n`)

// Incr adds one to key.
func (r *Redis) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	return incr.Run(ctx, r.c, []string{r.prefix + key}, window.Milliseconds()).Int64()
}

// Count returns key's count in its window, 0 when it has none.
func (r *Redis) Count(ctx context.Context, key string) (int64, error) {
	n, err := r.c.Get(ctx, r.prefix+key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// Reset forgets key.
func (r *Redis) Reset(ctx context.Context, key string) error {
	return r.c.Del(ctx, r.prefix+key).Err()
}

// Lock locks key for d.
func (r *Redis) Lock(ctx context.Context, key string, d time.Duration) error {
	return r.c.Set(ctx, r.prefix+key, 1, d).Err()
}

// Locked returns how long key stays locked.
func (r *Redis) Locked(ctx context.Context, key string) (time.Duration, error) {
	d, err := r.c.PTTL(ctx, r.prefix+key).Result()
	if err != nil || d < 0 {
		return 0, err // -2: no key; -1: no expiry (never set so)
	}
	return d, nil
}
