// Package redis is the result-store backend on Redis (go-redis v9), the one
// web and worker processes share in production.
//
// Layout, for a prefix P (default "idv:"):
//
//	P + "result:" + id    string, sealed idv.AsyncResult, SETEX with the store's TTL
//	P + "result-written"  pub/sub channel; each write publishes its result id
//
// Result ids are random and carry no PII, and values are sealed before they
// get here, so nothing in Redis (keys, values, messages) is personal.
package redis

import (
	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/results"
	goredis "github.com/redis/go-redis/v9"
)

// New returns a result store on client, sealing with sealer. Close the store
// (before the client) to end its subscription; the client remains the
// caller's to close.
func New(client goredis.UniversalClient, sealer idv.Sealer, opts results.Options) (*results.Store, error) {
	opts = opts.WithDefaults()
	return results.New(NewKV(client, opts.Prefix), sealer, opts)
}
