// Package guard is the fleet-wide guard of vendor calls (vendors.Guard): a
// concurrency limit and a circuit breaker per vendor whose state lives in
// Redis, so every worker process counts the same calls and sees the same
// breaker. Redis rather than PostgreSQL: the state is a few small keys per
// vendor touched twice per vendor call, which Redis does in one round trip
// each with a script, it is already on every worker's path, and losing it
// (a failover) only resets counters to "closed" — the safe side.
//
// Layout, for a prefix P (default "idv:") and a vendor name V (names are
// configuration, never PII):
//
//	P + "vendor:{" + V + "}:breaker"   hash: fails (the current run of
//	                                   timeouts and exceptions), open_until
//	                                   and probe_until (Redis clock, ms)
//	P + "vendor:{" + V + "}:inflight"  sorted set: one member per call in
//	                                   flight, scored by when it is
//	                                   presumed lost (start + timeout +
//	                                   margin), so a killed worker's calls
//	                                   free their slots by themselves
//
// The braces make both keys of a vendor one Redis Cluster hash slot.
//
// The breaker: Failures faults in a row (vendors.Fault: timeouts,
// connection failures, non-2xx answers; across the fleet)
// open it for Cooldown; meanwhile every call is shed at once as an
// exception (the person is told to try again shortly instead of waiting
// for the vendor's timeout). After the cool-down one call, the probe, is let
// through (half-open): its success closes the breaker, its failure opens it
// for another cool-down. An answer — a vendor's "no", or an exception the
// vendor reported for one request — is not a fault: it ends the run like a
// success.
package guard

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/vendors"
	goredis "github.com/redis/go-redis/v9"
)

// Defaults of Options.
const (
	DefaultPrefix   = "idv:"
	DefaultFailures = 5
	DefaultCooldown = 30 * time.Second
	// lostMargin is how long past its timeout a call in flight keeps its
	// slot when nobody reports its end (its worker died).
	lostMargin = 10 * time.Second
)

// Options configures a Guard.
type Options struct {
	// Prefix starts every key. Default DefaultPrefix.
	Prefix string
	// Failures is how many faults in a row (vendors.Fault) open a
	// vendor's breaker. 0 means DefaultFailures; negative turns the
	// breaker off.
	Failures int
	// Cooldown is how long an open breaker sheds calls before a probe.
	// Default DefaultCooldown.
	Cooldown time.Duration
	// MaxConcurrent is each vendor's limit of calls in flight across the
	// fleet, by vendor name; absent or 0: no limit.
	MaxConcurrent map[string]int
	// Observer hears of shed calls and of the breaker moves this process
	// made. Default idv.NopObserver.
	Observer idv.Observer
	// Logger hears of Redis errors (the guard then admits calls).
	Logger *slog.Logger
}

// Guard is a vendors.Guard on Redis.
type Guard struct {
	client goredis.UniversalClient
	o      Options
}

var _ vendors.Guard = (*Guard)(nil)

// New returns a Guard on client.
func New(client goredis.UniversalClient, o Options) *Guard {
	o.Prefix = cmp.Or(o.Prefix, DefaultPrefix)
	o.Failures = cmp.Or(o.Failures, DefaultFailures)
	o.Cooldown = cmp.Or(o.Cooldown, DefaultCooldown)
	o.Observer = cmp.Or[idv.Observer](o.Observer, idv.NopObserver{})
	o.Logger = cmp.Or(o.Logger, slog.New(slog.DiscardHandler))
	return &Guard{client: client, o: o}
}

func (g *Guard) keys(vendor string) []string {
	base := g.o.Prefix + "vendor:{" + vendor + "}:"
	return []string{base + "breaker", base + "inflight"}
}

// admit decides on one call, atomically.
//
// KEYS[1] breaker hash, KEYS[2] in-flight set. ARGV[1] the vendor's limit
// (0: none), ARGV[2] the call's id, ARGV[3] how long the call may hold its
// slot (ms), ARGV[4] 1 when the breaker is on.
// Returns "ok", "probe" (admitted as the half-open probe), "open" or
// "limit" (shed).
var admit = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hold = tonumber(ARGV[3])
local probe = false
if ARGV[4] == '1' then
  local openUntil = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
  if openUntil > 0 then
    if now < openUntil then return 'open' end
    local probeUntil = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
    if probeUntil > now then return 'open' end
    redis.call('HSET', KEYS[1], 'probe_until', now + hold)
    probe = true
  end
end
local limit = tonumber(ARGV[1])
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= limit then
    if probe then redis.call('HDEL', KEYS[1], 'probe_until') end
    return 'limit'
  end
  redis.call('ZADD', KEYS[2], now + hold, ARGV[2])
  redis.call('PEXPIRE', KEYS[2], hold * 2)
end
if probe then return 'probe' end
return 'ok'
`)

// finish records a call's end, atomically.
//
// KEYS as admit. ARGV[1] the call's id, ARGV[2] 1 if it was a fault
// (vendors.Fault), ARGV[3] failures that open the breaker (0:
// off), ARGV[4] cool-down (ms), ARGV[5] 1 if the call was the probe,
// ARGV[6] how long the breaker's state outlives its last change (ms).
// Returns "open" or "closed" when this call moved the breaker, else "".
var finish = goredis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
local threshold = tonumber(ARGV[3])
if threshold == 0 then return '' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local moved = ''
if ARGV[2] == '1' then
  local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
  local openUntil = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
  if ARGV[5] == '1' or (openUntil == 0 and fails >= threshold) then
    redis.call('HSET', KEYS[1], 'open_until', now + tonumber(ARGV[4]))
    redis.call('HDEL', KEYS[1], 'probe_until')
    moved = 'open'
  end
else
  if ARGV[5] == '1' then
    redis.call('HDEL', KEYS[1], 'open_until', 'probe_until')
    moved = 'closed'
  end
  redis.call('HSET', KEYS[1], 'fails', 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return moved
`)

// Admit implements vendors.Guard.
func (g *Guard) Admit(ctx context.Context, vendor string, timeout time.Duration) (func(bool), string) {
	limit := g.o.MaxConcurrent[vendor]
	breakerOn := g.o.Failures > 0
	if limit <= 0 && !breakerOn {
		return func(bool) {}, ""
	}
	id := idv.NewID()
	hold := timeout + lostMargin
	keys := g.keys(vendor)
	on := "0"
	if breakerOn {
		on = "1"
	}
	verdict, err := admit.Run(ctx, g.client, keys, limit, id, hold.Milliseconds(), on).Text()
	if err != nil {
		g.o.Logger.WarnContext(ctx, "vendor guard unavailable: call admitted", "vendor", vendor, "error", err.Error())
		return func(bool) {}, ""
	}
	switch verdict {
	case "open":
		g.o.Observer.VendorShed(vendor, idv.VendorShedOpen)
		return nil, idv.VendorShedOpen
	case "limit":
		g.o.Observer.VendorShed(vendor, idv.VendorShedLimit)
		return nil, idv.VendorShedLimit
	}
	probe := verdict == "probe"
	if probe {
		g.o.Observer.VendorBreaker(vendor, "half_open")
		g.o.Logger.InfoContext(ctx, "vendor breaker half-open: probing", "vendor", vendor)
	}
	return func(fault bool) { g.finish(ctx, vendor, keys, id, fault, probe) }, ""
}

func (g *Guard) finish(ctx context.Context, vendor string, keys []string, id string, fault, probe bool) {
	failed, threshold, isProbe := "0", max(g.o.Failures, 0), "0"
	if fault {
		failed = "1"
	}
	if probe {
		isProbe = "1"
	}
	ttl := max(4*g.o.Cooldown, 10*time.Minute)
	// The call's own context may be done (a timeout): record its end anyway.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	moved, err := finish.Run(fctx, g.client, keys, id, failed, threshold, g.o.Cooldown.Milliseconds(), isProbe, ttl.Milliseconds()).Text()
	if err != nil {
		g.o.Logger.WarnContext(ctx, "vendor guard unavailable: call end not recorded", "vendor", vendor, "error", err.Error())
		return
	}
	switch moved {
	case "open":
		g.o.Observer.VendorBreaker(vendor, "open")
		g.o.Logger.WarnContext(ctx, "vendor breaker open: calls answer exception at once", "vendor", vendor, "cooldown", g.o.Cooldown.String())
	case "closed":
		g.o.Observer.VendorBreaker(vendor, "closed")
		g.o.Logger.InfoContext(ctx, "vendor breaker closed: probe succeeded", "vendor", vendor)
	}
}
