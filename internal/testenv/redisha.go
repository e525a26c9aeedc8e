package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisSentinelSet is a primary, its replica and Sentinels watching them,
// private to one test: the shape of a Redis with failover. The test may kill
// the primary (Stop) and wait for the Sentinels to promote the replica.
type RedisSentinelSet struct {
	// MasterName is the name the Sentinels monitor the primary under.
	MasterName string
	// Nodes are the data nodes: Nodes[0] started as the primary,
	// Nodes[1] as its replica.
	Nodes []*RedisServer
	// Sentinels watch the primary, with a quorum of two.
	Sentinels []*RedisServer
}

// RedisSentinelOptions place the servers of a RedisSentinelSet. Zero
// values are loopback servers on free ports: two nodes, three Sentinels.
type RedisSentinelOptions struct {
	Nodes     []RedisOptions // primary, replica
	Sentinels []RedisOptions
	// DownAfter is how long the primary must not answer before a
	// Sentinel thinks it down: 1 s when zero (production uses 5 s or
	// more).
	DownAfter time.Duration
}

// StartRedisSentinel starts a primary, a replica of it and three Sentinels
// (quorum two, the primary thought down after one second), and waits until
// the replica is in sync and every Sentinel knows the replica and the other
// Sentinels, so that a failover can happen. Everything stops when the test
// ends.
func StartRedisSentinel(t testing.TB, o RedisSentinelOptions) *RedisSentinelSet {
	t.Helper()
	if len(o.Nodes) == 0 {
		o.Nodes = make([]RedisOptions, 2)
	}
	if len(o.Sentinels) == 0 {
		o.Sentinels = make([]RedisOptions, 3)
	}
	if o.DownAfter == 0 {
		o.DownAfter = time.Second
	}
	s := &RedisSentinelSet{MasterName: "idv-test"}
	primary := StartRedisServerWith(t, o.Nodes[0])
	s.Nodes = append(s.Nodes, primary)
	host, port := splitAddr(primary.Addr)
	for _, ro := range o.Nodes[1:] {
		ro.Args = append(append([]string{}, ro.Args...), "--replicaof", host, port)
		s.Nodes = append(s.Nodes, StartRedisServerWith(t, ro))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range s.Nodes[1:] {
		waitFor(t, ctx, "replica "+n.Addr+" in sync", func() (bool, string) {
			info, err := n.client().Info(ctx, "replication").Result()
			return err == nil && strings.Contains(info, "master_link_status:up"), fmt.Sprint(err)
		})
	}
	quorum := len(o.Sentinels)/2 + 1
	for _, so := range o.Sentinels {
		so.Sentinel = []string{
			fmt.Sprintf("sentinel monitor %s %s %s %d", s.MasterName, host, port, quorum),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", s.MasterName, o.DownAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", s.MasterName, 10*o.DownAfter.Milliseconds()),
			fmt.Sprintf("sentinel parallel-syncs %s 1", s.MasterName),
		}
		s.Sentinels = append(s.Sentinels, StartRedisServerWith(t, so))
	}
	for _, sn := range s.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr})
		waitFor(t, ctx, "sentinel "+sn.Addr+" to know the replicas and the other sentinels", func() (bool, string) {
			m, err := sc.Master(ctx, s.MasterName).Result()
			ok := err == nil && m["num-slaves"] == fmt.Sprint(len(s.Nodes)-1) && m["num-other-sentinels"] == fmt.Sprint(len(s.Sentinels)-1)
			return ok, fmt.Sprintf("%v %v", m, err)
		})
		_ = sc.Close()
	}
	return s
}

// SentinelAddrs are the Sentinels' HOST:PORTs (redis.addrs).
func (s *RedisSentinelSet) SentinelAddrs() []string {
	var out []string
	for _, sn := range s.Sentinels {
		out = append(out, sn.Addr)
	}
	return out
}

// PrimaryAddr asks the Sentinels which node is the primary now.
func (s *RedisSentinelSet) PrimaryAddr(ctx context.Context) (string, error) {
	var err error
	for _, sn := range s.Sentinels {
		if !sn.Running() {
			continue
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1})
		var hp []string
		hp, err = sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		_ = sc.Close()
		if err == nil && len(hp) == 2 {
			return hp[0] + ":" + hp[1], nil
		}
	}
	return "", fmt.Errorf("no sentinel named the primary: %v", err)
}

// Primary returns the node the Sentinels name as primary.
func (s *RedisSentinelSet) Primary(t testing.TB) *RedisServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := s.PrimaryAddr(ctx)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for _, n := range s.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	t.Fatalf("testenv: the sentinels name %s, which is none of the nodes", addr)
	return nil
}

// WaitForFailover waits (at most within) until the Sentinels name a primary
// other than old and that node answers as a primary, and returns it.
func (s *RedisSentinelSet) WaitForFailover(t testing.TB, old *RedisServer, within time.Duration) *RedisServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var promoted *RedisServer
	waitFor(t, ctx, "the sentinels to promote a replica", func() (bool, string) {
		addr, err := s.PrimaryAddr(ctx)
		if err != nil || addr == old.Addr {
			return false, fmt.Sprintf("primary %s, %v", addr, err)
		}
		for _, n := range s.Nodes {
			if n.Addr == addr {
				role, err := n.client().Do(ctx, "ROLE").Slice()
				if err == nil && len(role) > 0 && role[0] == "master" {
					promoted = n
					return true, ""
				}
				return false, fmt.Sprintf("%s is not a primary yet: %v %v", addr, role, err)
			}
		}
		return false, "the sentinels name an unknown node " + addr
	})
	return promoted
}

// RedisCluster is a Redis Cluster of three primaries (and perhaps a replica
// of each) on loopback, private to one test.
type RedisCluster struct {
	Nodes []*RedisServer
}

// StartRedisCluster starts three cluster-enabled redis-servers, joins them
// with redis-cli --cluster create (the slots split in three) and waits until
// every node says the cluster is ok. It stops when the test ends.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	return StartRedisClusterWith(t, 0)
}

// StartRedisClusterWith is StartRedisCluster with replicas replicas of each
// primary (3 × (1 + replicas) nodes), for cluster failover tests: a
// replica takes over its primary's slots about two seconds
// (cluster-node-timeout) after the primary dies.
func StartRedisClusterWith(t testing.TB, replicas int) *RedisCluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("testenv: redis-cli is not installed (apt-get install redis-tools): %v", err)
	}
	c := &RedisCluster{}
	for range 3 * (1 + replicas) {
		c.Nodes = append(c.Nodes, StartRedisServerWith(t, RedisOptions{Args: []string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"}}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	if out, err := exec.CommandContext(ctx, cli, append(args, "--cluster-replicas", fmt.Sprint(replicas), "--cluster-yes")...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		// A replica that never synced cannot take over: wait for the
		// link of each (a primary's INFO has no master_link_status).
		waitFor(t, ctx, "cluster node "+n.Addr+" in sync", func() (bool, string) {
			info, err := n.client().Info(ctx, "replication").Result()
			return err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up")), info
		})
		waitFor(t, ctx, "cluster node "+n.Addr+" to be ok", func() (bool, string) {
			info, err := n.client().ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))), info
		})
	}
	return c
}

// MasterOf returns the node that serves key's slot as a primary now.
func (c *RedisCluster) MasterOf(t testing.TB, key string) *RedisServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var slot int64
	var err error
	for _, n := range c.Nodes {
		if n.Running() {
			if slot, err = n.client().ClusterKeySlot(ctx, key).Result(); err == nil {
				break
			}
		}
	}
	if err != nil {
		t.Fatalf("testenv: CLUSTER KEYSLOT: %v", err)
	}
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		slots, err := n.client().ClusterSlots(ctx).Result()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
				for _, m := range c.Nodes {
					if m.Addr == s.Nodes[0].Addr {
						return m
					}
				}
			}
		}
		break
	}
	t.Fatalf("testenv: no primary serves the slot of %q", key)
	return nil
}

// WaitForTakeover waits (at most within) until a node other than old
// serves key's slot as a primary and every running node says the cluster
// is ok, and returns that node.
func (c *RedisCluster) WaitForTakeover(t testing.TB, old *RedisServer, key string, within time.Duration) *RedisServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var now *RedisServer
	waitFor(t, ctx, "a replica to take over from "+old.Addr, func() (bool, string) {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			if info, err := n.client().ClusterInfo(ctx).Result(); err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false, fmt.Sprintf("%s: %v %.120s", n.Addr, err, info)
			}
		}
		now = c.MasterOf(t, key)
		return now != old, "still " + now.Addr
	})
	return now
}

// Addrs are the nodes' HOST:PORTs (redis.addrs).
func (c *RedisCluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr)
	}
	return out
}

// Client returns a cluster client, closed when the test ends.
func (c *RedisCluster) Client(t testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// Client returns a client of this one server, closed when the test ends.
func (r *RedisServer) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// client is a one-connection client of the server for the helpers' checks.
func (r *RedisServer) client() *redis.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.admin == nil {
		r.admin = redis.NewClient(&redis.Options{Addr: r.Addr, PoolSize: 1, MaxRetries: -1, DialTimeout: time.Second})
		r.t.Cleanup(func() { _ = r.admin.Close() })
	}
	return r.admin
}

func splitAddr(addr string) (host, port string) {
	i := strings.LastIndex(addr, ":")
	return addr[:i], addr[i+1:]
}

// waitFor polls ok until it holds or ctx ends, then fails the test with
// what ok last said.
func waitFor(t testing.TB, ctx context.Context, what string, ok func() (bool, string)) {
	t.Helper()
	for {
		done, last := ok()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: waiting for %s: %v (last: %s)", what, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond): // polling a server's state
		}
	}
}
