package queue

import (
	"time"

	"github.com/idv-dev/idv"
	"github.com/riverqueue/river"
)

// jobArgs is an idv.Job as River stores it in river_job.args. It is owned by
// this package, not aliased to idv.Job, so a change to the domain type cannot
// silently change the stored format of jobs already in the queue.
//
// Only routing fields are in clear; EncryptedArguments is sealed by the web
// tier and encoding/json writes it as base64. Nothing here is PII, so River
// may log or store these arguments (it only stores them).
type jobArgs struct {
	JobKind            idv.JobKind `json:"kind"`
	ResultID           string      `json:"result_id"`
	TraceID            string      `json:"trace_id"`
	EnqueuedAt         time.Time   `json:"enqueued_at"`
	EncryptedArguments []byte      `json:"encrypted_arguments"`
	VerificationID     string      `json:"verification_id,omitempty"`
}

// Kind is the River job kind: the idv job kind itself, so the admin UI and
// river_job.kind read in the domain's words. One Go type serves every kind:
// River registers it once per kind with AddWorkerArgs.
func (a jobArgs) Kind() string { return string(a.JobKind) }

// InsertOpts routes the job to its kind's queue even when it is inserted by
// something other than Submit (a retry from the admin UI, say).
func (a jobArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: a.JobKind.Queue()}
}

func argsFromJob(j idv.Job) jobArgs {
	return jobArgs{
		JobKind:            j.Kind,
		ResultID:           j.ResultID,
		TraceID:            j.TraceID,
		EnqueuedAt:         j.EnqueuedAt,
		EncryptedArguments: j.EncryptedArguments,
		VerificationID:     j.VerificationID,
	}
}

func (a jobArgs) job() idv.Job {
	return idv.Job{
		Kind:               a.JobKind,
		ResultID:           a.ResultID,
		TraceID:            a.TraceID,
		EnqueuedAt:         a.EnqueuedAt,
		EncryptedArguments: a.EncryptedArguments,
		VerificationID:     a.VerificationID,
	}
}

// pruneArgs is the periodic job that deletes old capture sessions. It runs
// on the default queue, enqueued by River's elected leader.
type pruneArgs struct {
	// Before is the retention: rows requested longer ago than this go.
	Before time.Duration `json:"before"`
}

func (pruneArgs) Kind() string { return "idv_prune_capture_sessions" }

func (pruneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: river.QueueDefault, MaxAttempts: 1}
}
