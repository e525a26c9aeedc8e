package idv

import "context"

// JobInfo is what the queue knows about a running job, for logs and metrics.
type JobInfo struct {
	ID      int64
	Attempt int
	Queue   string
}

type jobInfoKey struct{}

// WithJobInfo returns ctx carrying info; the queue sets it before calling a
// JobHandler so handlers can log it without importing the queue.
func WithJobInfo(ctx context.Context, info JobInfo) context.Context {
	return context.WithValue(ctx, jobInfoKey{}, info)
}

// JobInfoFrom returns the JobInfo in ctx, if any.
func JobInfoFrom(ctx context.Context) (JobInfo, bool) {
	info, ok := ctx.Value(jobInfoKey{}).(JobInfo)
	return info, ok
}
