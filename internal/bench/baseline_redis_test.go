package bench

import (
	"context"
	"testing"
	"time"

	"github.com/idv-dev/idv/internal/testenv"
)

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestRunRedisGetAnswersEveryGetAndDeletesItsKey(t *testing.T) {
	t.Parallel()
	rc, prefix := testenv.Redis(t)
	o := RedisGetOptions{Prefix: prefix, ValueSize: 700, Conns: 4, Ops: 301}
	res, err := RunRedisGet(testCtx(t), rc, o)
	if err != nil {
		t.Fatalf("RunRedisGet: %v", err)
	}
	if res.Ops != o.Ops {
		t.Errorf("Ops = %d, want %d", res.Ops, o.Ops)
	}
	if res.Elapsed <= 0 {
		t.Errorf("Elapsed = %s, want > 0", res.Elapsed)
	}
	if want := float64(res.Ops) / res.Elapsed.Seconds(); res.PerSecond != want {
		t.Errorf("PerSecond = %v, want Ops/Elapsed = %v", res.PerSecond, want)
	}
	keys, err := rc.Keys(testCtx(t), prefix+"*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	if len(keys) != 0 {
		t.Errorf("keys left under the prefix: %q", keys)
	}
}

func TestRunRedisGetFails(t *testing.T) {
	t.Parallel()
	rc, prefix := testenv.Redis(t)
	cancelled, cancel := context.WithCancel(testCtx(t))
	cancel()
	for name, tc := range map[string]struct {
		ctx context.Context
		o   RedisGetOptions
	}{
		"cancelled context":   {cancelled, RedisGetOptions{Prefix: prefix, ValueSize: 10, Conns: 2, Ops: 10}},
		"no connections":      {testCtx(t), RedisGetOptions{Prefix: prefix, ValueSize: 10, Ops: 10}},
		"no operations":       {testCtx(t), RedisGetOptions{Prefix: prefix, ValueSize: 10, Conns: 2}},
		"negative value size": {testCtx(t), RedisGetOptions{Prefix: prefix, ValueSize: -1, Conns: 2, Ops: 10}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := RunRedisGet(tc.ctx, rc, tc.o); err == nil {
				t.Errorf("RunRedisGet(%+v): no error", tc.o)
			}
		})
	}
}
