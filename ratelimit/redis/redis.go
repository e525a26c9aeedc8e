// Package redis counts rate-limit attempts in Redis (go-redis v9), shared by
// every web process. It needs Redis 7 or newer (PEXPIRETIME).
//
// Layout, for a prefix P (default "idv:"): one integer counter per limiter
// and target,
//
//	P + "ratelimit:" + name + ":" + target
//
// whose expiry is the end of the window. Targets are user ids or HMAC
// fingerprints (ratelimit.Fingerprint), never raw PII.
package redis

import (
	"cmp"
	"context"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/ratelimit"
	goredis "github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key when New is given an empty prefix.
const DefaultPrefix = "idv:"

// increment counts one attempt unless the target is limited, atomically: a
// script, so that the check and the INCR + PEXPIRE cannot interleave with
// another increment (two quick submits cannot push the count past max, and
// an increment while limited cannot slide the lockout). The expiry is set
// relative to Redis's own clock, which is EXPIREAT now+window without
// trusting the web servers' clocks.
//
// KEYS[1] counter; ARGV[1] max; ARGV[2] window in ms.
// Returns {count, expiry as Unix ms (or -2 when there is no counter)}.
var increment = goredis.NewScript(`
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local counted = 0
if count < tonumber(ARGV[1]) then
  count = redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  counted = 1
end
return {count, redis.call('PEXPIRETIME', KEYS[1]), counted}
`)

// status reads a counter and its expiry in one step, the same shape as
// increment returns. KEYS[1] counter.
var status = goredis.NewScript(`
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PEXPIRETIME', KEYS[1])}
`)

// Limiter is a ratelimit.Limiter on Redis.
type Limiter struct {
	client goredis.UniversalClient
	prefix string
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// New returns a Limiter on client whose keys start with prefix (DefaultPrefix
// when empty). The client stays the caller's.
func New(client goredis.UniversalClient, prefix string) *Limiter {
	return &Limiter{client: client, prefix: cmp.Or(prefix, DefaultPrefix)}
}

// Key is the counter of l for target.
func (r *Limiter) Key(l ratelimit.Limit, target string) string {
	return r.prefix + "ratelimit:" + l.Name + ":" + target
}

// Increment counts one attempt unless target is already limited.
func (r *Limiter) Increment(ctx context.Context, l ratelimit.Limit, target string) (ratelimit.Attempts, error) {
	if err := ratelimit.Check(l, target); err != nil {
		return ratelimit.Attempts{}, err
	}
	return r.run(increment.Run(ctx, r.client, []string{r.Key(l, target)}, l.Max, l.Window.Milliseconds()), l)
}

// Status returns the count and window end without counting.
func (r *Limiter) Status(ctx context.Context, l ratelimit.Limit, target string) (ratelimit.Attempts, error) {
	if err := ratelimit.Check(l, target); err != nil {
		return ratelimit.Attempts{}, err
	}
	return r.run(status.RunRO(ctx, r.client, []string{r.Key(l, target)}), l)
}

// Reset deletes the counter.
func (r *Limiter) Reset(ctx context.Context, l ratelimit.Limit, target string) error {
	if err := ratelimit.Check(l, target); err != nil {
		return err
	}
	if err := r.client.Del(ctx, r.Key(l, target)).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// run turns a script's {count, expiry} answer into Attempts.
func (r *Limiter) run(cmd *goredis.Cmd, l ratelimit.Limit) (ratelimit.Attempts, error) {
	res, err := cmd.Int64Slice()
	if err != nil {
		return ratelimit.Attempts{}, unavailable(err)
	}
	if len(res) < 2 {
		return ratelimit.Attempts{}, idv.Errorf(idv.EINTERNAL, "rate limit script returned %d values", len(res))
	}
	at := l.Attempts(int(res[0]), expiry(res[1]))
	at.Counted = len(res) > 2 && res[2] == 1
	return at, nil
}

// expiry converts PEXPIRETIME's answer; -1 (no expiry) and -2 (no key) give
// the zero time.
func expiry(ms int64) time.Time {
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// unavailable hides a Redis failure behind the coded error the web maps to
// "try again later". go-redis errors name addresses and commands, not keys
// or values.
func unavailable(err error) error {
	return idv.WrapError(idv.EUNAVAILABLE, "rate limiter unavailable", err)
}
