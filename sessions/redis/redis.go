// Package redis keeps the web tier's sessions (scs) in Redis through any
// go-redis client: one node, the primary behind Sentinel, or a Redis
// Cluster (goredis.UniversalClient). scs's own goredisstore takes only a
// single-node *redis.Client.
//
// Layout, for a prefix P (the web role uses redis.prefix + "session:"):
//
//	P + token   string, the session as the codec encoded it (sealed by the
//	            web tier), expiring when the session does
//
// One key per session and no multi-key command, so every key may live in
// its own Cluster slot. The layout is goredisstore's: sessions written by
// an earlier release are read as they are.
package redis

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	goredis "github.com/redis/go-redis/v9"
)

// Store is an scs store on Redis.
type Store struct {
	client goredis.UniversalClient
	prefix string
}

var (
	_ scs.CtxStore         = (*Store)(nil)
	_ scs.IterableCtxStore = (*Store)(nil)
)

// New returns a store on client whose keys are prefix + token. The client
// stays the caller's to close.
func New(client goredis.UniversalClient, prefix string) *Store {
	return &Store{client: client, prefix: prefix}
}

// Key is where the session of token lives.
func (s *Store) Key(token string) string { return s.prefix + token }

// FindCtx returns the session of token; found is false when there is none
// (or it expired).
func (s *Store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	b, err := s.client.Get(ctx, s.Key(token)).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return b, true, nil
}

// CommitCtx writes the session of token, to expire at expiry (SET with
// EXAT, to the second). An expiry already passed deletes it.
func (s *Store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if !expiry.After(time.Now()) {
		return s.DeleteCtx(ctx, token)
	}
	return s.client.SetArgs(ctx, s.Key(token), b, goredis.SetArgs{ExpireAt: expiry}).Err()
}

// DeleteCtx removes the session of token; none is not an error.
func (s *Store) DeleteCtx(ctx context.Context, token string) error {
	return s.client.Del(ctx, s.Key(token)).Err()
}

// AllCtx returns every live session, scanning each primary of a cluster.
// It is for operators' tools, never on a request's path.
func (s *Store) AllCtx(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	var mu sync.Mutex // ForEachMaster scans the primaries at once
	scan := func(ctx context.Context, c goredis.Cmdable) error {
		iter := c.Scan(ctx, 0, s.prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			b, err := c.Get(ctx, key).Bytes()
			if errors.Is(err, goredis.Nil) {
				continue // expired since the scan saw it
			} else if err != nil {
				return err
			}
			mu.Lock()
			out[key[len(s.prefix):]] = b
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := s.client.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.client)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Find, Commit, Delete and All are the store without a context, for
// callers of scs's older interface.
func (s *Store) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

func (s *Store) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

func (s *Store) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

func (s *Store) All() (map[string][]byte, error) { return s.AllCtx(context.Background()) }
