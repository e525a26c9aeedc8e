package app

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/jobs"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/telemetry"
	"github.com/idv-dev/idv/vendors"
	"github.com/idv-dev/idv/vendors/guard"
)

// jobTimeouts bound one run of each job kind: the vendors' timeouts plus room
// to store the result.
var jobTimeouts = map[idv.JobKind]time.Duration{
	idv.JobResolution: 20 * time.Second,
	idv.JobAddress:    10 * time.Second,
	idv.JobDocument:   60 * time.Second,
}

// devRescueMargin is how far `idv dev`'s rescue threshold lies beyond its
// longest job timeout. When a job's timeout passes, River cancels its
// context and the handler returns at once (every vendor call honours it),
// so in one process a job still running 2 s later was lost with a killed
// process, not slow.
const devRescueMargin = 2 * time.Second

// devRescueAfter is jobs.rescue_after under `idv dev` (SQLite) when the
// configuration leaves the embedded default (75 s, sized for PostgreSQL,
// whose heartbeat rescue finds a dead worker's jobs within seconds): the
// longest job timeout plus devRescueMargin, 62 s. SQLite has no heartbeat
// rescue, so River's rescuer alone re-runs a job left running by a kill -9;
// it runs at the leader's start and every 30 s, so such a job re-runs
// 62-92 s after it started rather than 75-105 s.
//
// The trade-off: the rescue cannot land inside the person's 60 s result
// window while it waits longer than the document timeout, which is itself
// 60 s. Waiting less would run a slow but live document check twice, with
// a second vendor call (the queue refuses such a configuration for that
// reason), so the threshold stays just beyond every job timeout. Landing
// inside the window would take a dev-only document timeout under about
// 25 s (the rescuer's 30 s tick included).
func devRescueAfter(configured time.Duration) time.Duration {
	if configured != config.Defaults().Jobs.RescueAfter {
		return configured // chosen in the configuration: kept
	}
	return slices.Max(slices.Collect(maps.Values(jobTimeouts))) + devRescueMargin
}

// Proofers are the vendors the job handlers ask: the HTTP clients in every
// role (VendorProofers), an in-process stand-in in the benchmarks.
type Proofers struct {
	Resolution     idv.ResolutionProofer
	StateID        idv.StateIDProofer
	Phone          idv.PhoneProofer
	PhoneSecondary idv.PhoneProofer    // nil: no second phone vendor
	Document       idv.DocumentProofer // nil: no document vendor configured
}

// VendorClients builds the vendor HTTP clients of vendors.*, through the
// egress proxy when one is set.
func VendorClients(cfg config.Config) (*vendors.Clients, error) {
	return vendorClients(cfg, nil)
}

// vendorClients is VendorClients with g admitting every call (nil: none).
func vendorClients(cfg config.Config, g vendors.Guard) (*vendors.Clients, error) {
	v := cfg.Vendors
	return vendors.New(vendors.Config{
		Guard:               g,
		MaxIdleConnsPerHost: v.MaxIdleConnsPerHost,
		BaseURL:             v.BaseURL,
		ProxyURL:            v.ProxyURL,
		Resolution:          vendors.Endpoint{URL: v.Resolution.URL, Timeout: v.Resolution.Timeout},
		StateID:             vendors.Endpoint{URL: v.StateID.URL, Timeout: v.StateID.Timeout},
		Phone:               vendors.Endpoint{URL: v.Phone.URL, Timeout: v.Phone.Timeout},
		Document:            vendors.Endpoint{URL: v.Document.URL, Timeout: v.Document.Timeout},
	})
}

// vendorGuard is the fleet-wide concurrency limit and circuit breaker of
// vendors.breaker and vendors.*.max_concurrent, in c's Redis; nil without
// Redis (`idv dev`) or when both are off.
func (c *Components) vendorGuard() vendors.Guard {
	v := c.Config.Vendors
	limits := map[string]int{}
	for name, e := range map[string]config.Vendor{vendors.NameResolution: v.Resolution, vendors.NameStateID: v.StateID,
		vendors.NamePhone: v.Phone, phoneSecondaryName: v.PhoneSecondary, vendors.NameDocument: v.Document} {
		if e.MaxConcurrent > 0 {
			limits[name] = e.MaxConcurrent
		}
	}
	if c.Redis == nil || (v.Breaker.Failures == 0 && len(limits) == 0) {
		return nil
	}
	failures := v.Breaker.Failures
	if failures == 0 {
		failures = -1 // off; guard.Options reads 0 as its default
	}
	return guard.New(c.Redis, guard.Options{Prefix: c.Config.Redis.Prefix, Failures: failures, Cooldown: v.Breaker.Cooldown,
		MaxConcurrent: limits, Observer: c.Metrics, Logger: c.Log})
}

// phoneSecondaryName is the second phone vendor's name in results.
const phoneSecondaryName = "phone_secondary"

// VendorProofers are the clients of vc as the handlers' vendors, with the
// second phone vendor when vendors.phone_secondary.url is set.
func VendorProofers(cfg config.Config, vc *vendors.Clients) (Proofers, error) {
	p := Proofers{Resolution: vc.Resolution, StateID: vc.StateID, Phone: vc.Phone}
	if vc.Document != nil { // a nil *Document would make a non-nil interface
		p.Document = vc.Document
	}
	if sec := cfg.Vendors.PhoneSecondary; sec.URL != "" {
		phone, err := vendors.NewPhone(vc.HTTP, vendors.Endpoint{URL: sec.URL, Timeout: sec.Timeout, Name: phoneSecondaryName,
			Guard: vc.Config.Guard})
		if err != nil {
			return Proofers{}, err
		}
		p.PhoneSecondary = phone
	}
	return p, nil
}

// Handlers builds the job handler of every kind, sharing one runner (stale
// guard, sealed arguments and results, outcome rows, metrics, the job log
// line). Document jobs are handled when c.Objects is set (doc_auth on),
// which then needs a document vendor.
func (c *Components) Handlers(p Proofers) (map[idv.JobKind]idv.JobHandler, error) {
	runner := &jobs.Runner{Sealer: c.Sealer, Results: c.Results, Logger: c.Log, StaleAfter: c.Config.Jobs.StaleAfter,
		Observer: c.Metrics}
	if c.Queue != nil {
		runner.Outcomes = c.Queue
	}
	h := map[idv.JobKind]idv.JobHandler{
		idv.JobResolution: &jobs.Resolution{Runner: runner, Resolution: p.Resolution, StateID: p.StateID},
		idv.JobAddress:    &jobs.Address{Runner: runner, Primary: p.Phone, Secondary: p.PhoneSecondary},
	}
	if c.Objects != nil {
		if p.Document == nil {
			return nil, errors.New("vendors.document.url (or vendors.base_url) is required while doc_auth.enabled is true")
		}
		h[idv.JobDocument] = &jobs.Document{Runner: runner, Objects: c.Objects, Vendor: p.Document,
			AllowTestFiles: c.Config.DocAuth.AllowTestFiles}
		if c.ImageKeys != nil {
			h[idv.JobDocument].(*jobs.Document).Keys = c.ImageKeys
		}
	}
	return h, nil
}

// vendorHandlers are c's job handlers asking the vendors of vc.
func (c *Components) vendorHandlers(vc *vendors.Clients) (map[idv.JobKind]idv.JobHandler, error) {
	p, err := VendorProofers(c.Config, vc)
	if err != nil {
		return nil, err
	}
	return c.Handlers(p)
}

// startWorkers starts workers for every kind c handles, asking the vendors
// of vc. stop makes them take no more work and lets running jobs finish
// for up to grace (then hands them back).
func (c *Components) startWorkers(ctx context.Context, vc *vendors.Clients) (stop func(grace time.Duration) error, err error) {
	if err := c.openImageKeys(ctx); err != nil {
		return nil, err
	}
	h, err := c.vendorHandlers(vc)
	if err != nil {
		return nil, err
	}
	wc := c.WorkerConfig(h)
	d, err := c.webhookDeliverer()
	if err != nil {
		return nil, err
	}
	wc.Webhooks, wc.WebhookWorkers = d, c.Config.Verifications.WebhookWorkers
	workers, err := c.Queue.StartWorkers(ctx, wc)
	if err != nil {
		return nil, err
	}
	return func(grace time.Duration) error {
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := workers.Stop(sctx); err != nil && !errors.Is(err, queue.ErrStopTimeout) {
			return err
		}
		return nil
	}, nil
}

// WorkerConfig is the worker settings of jobs.* for the kinds h handles,
// with each kind's timeout, runs and rescued jobs reported to c's metrics.
func (c *Components) WorkerConfig(h map[idv.JobKind]idv.JobHandler) queue.WorkerConfig {
	j := c.Config.Jobs
	counts, timeouts := map[idv.JobKind]int{}, map[idv.JobKind]time.Duration{}
	for kind, n := range map[idv.JobKind]int{
		idv.JobDocument: j.Workers.DocumentProofing, idv.JobResolution: j.Workers.ResolutionProofing, idv.JobAddress: j.Workers.AddressProofing,
	} {
		if h[kind] != nil {
			counts[kind], timeouts[kind] = n, jobTimeouts[kind]
		}
	}
	return queue.WorkerConfig{
		Handlers:            h,
		Workers:             counts,
		DefaultQueueWorkers: j.Workers.Default,
		Timeouts:            timeouts,
		RescueAfter:         j.RescueAfter,
		HeartbeatTimeout:    heartbeatTimeout(j.HeartbeatTimeout),
		Retention:           j.Retention,
		FetchPollInterval:   j.FetchPollInterval,
		PollOnly:            j.PollOnly,
		Observer:            c.Metrics,
		DataRetention: queue.Retention{Outcomes: c.Config.Retention.Outcomes, Verifications: c.Config.Retention.Verifications,
			WebhookEvents: c.Config.Retention.WebhookEvents},
		RetentionEvery: c.Config.Retention.Every,
	}
}

// heartbeatTimeout maps jobs.heartbeat_timeout, where 0 means off, to
// queue.WorkerConfig's, where 0 means the default and negative means off.
func heartbeatTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// queueDepth adapts the queue's stats for the idv_queue_jobs and
// idv_queue_oldest_available_seconds gauges.
func queueDepth(q *queue.Queue) func(context.Context) (map[string]telemetry.QueueReading, error) {
	return func(ctx context.Context) (map[string]telemetry.QueueReading, error) {
		stats, err := q.Stats(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[string]telemetry.QueueReading, len(stats))
		for name, st := range stats {
			out[name] = telemetry.QueueReading{
				Jobs:            map[string]int{"available": st.Available, "running": st.Running, "retryable": st.Retryable},
				OldestAvailable: st.OldestAvailable,
			}
		}
		return out, nil
	}
}
