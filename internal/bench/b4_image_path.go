package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/app"
	"github.com/idv-dev/idv/internal/testenv/versitygw"
	"github.com/idv-dev/idv/objects/s3"
	"github.com/idv-dev/idv/queue"
	"github.com/idv-dev/idv/results"
	redisresults "github.com/idv-dev/idv/results/redis"
	"github.com/idv-dev/idv/seal"
	"github.com/idv-dev/idv/telemetry"
)

// B4, the image path: document jobs whose two images were encrypted as the
// browser does (seal.SealImage: AES-256-GCM, one key, an IV per image) and
// PUT through pre-signed URLs to S3: the configured bucket (objects.*) or a
// versitygw started here. Workers run the production document job (URL
// check, download, decrypt, vendor, result, image delete) with a
// zero-latency in-process document vendor. The job's own timings (from its
// log line) give the decrypt rate and the time spent beyond the transfer.

// benchDocVendor passes every document at once.
type benchDocVendor struct{}

func (benchDocVendor) ProofDocument(_ context.Context, front, back []byte) (idv.VendorResult, *idv.Applicant) {
	a := benchApplicant(0)
	a.SSN = ""
	return idv.VendorResult{Vendor: "bench_document", Success: true, TransactionID: "bench-doc",
		VerifiedAttributes: []string{"document"}}, &a
}

// b4Timing is what one job's log line says about it.
type b4Timing struct {
	run                  time.Duration
	download, decrypt    time.Duration // both sides
	vendor, store, other time.Duration
}

// jobLogTap keeps the timings of every "job finished" line of the document
// kind, and passes every line on.
type jobLogTap struct {
	next io.Writer
	mu   sync.Mutex
	got  []b4Timing
}

func (t *jobLogTap) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"msg":"job finished"`)) && bytes.Contains(p, []byte(idv.JobDocument)) {
		var line struct {
			RunMS  float64            `json:"run_ms"`
			Timing map[string]float64 `json:"timing_ms"`
		}
		if json.Unmarshal(p, &line) == nil {
			d := func(name string) time.Duration { return time.Duration(line.Timing[name] * float64(time.Millisecond)) }
			bt := b4Timing{
				run:      time.Duration(line.RunMS * float64(time.Millisecond)),
				download: d("download.front") + d("download.back"),
				decrypt:  d("decrypt.front") + d("decrypt.back"),
				vendor:   d("document"),
				store:    d("store_result") + d("record_outcome"),
			}
			t.mu.Lock()
			t.got = append(t.got, bt)
			t.mu.Unlock()
		}
	}
	return t.next.Write(p)
}

func benchImagePath(ctx context.Context, env *env, o Settings) (*Result, error) {
	res := &Result{Params: map[string]any{"jobs": o.B4Jobs, "image_bytes": o.B4ImageSize, "images_per_job": 2, "workers": o.B4Workers}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()

	// The single-core ceiling of the decryption itself, for comparison.
	res.metric("OpenImage alone, one core", b4OpenImageRate(o.B4ImageSize), "GB/s")

	store, where, stop, err := b4Store(ctx, env)
	if err != nil {
		return res, err
	}
	defer stop()
	res.Params["s3"] = where

	cfg := env.cfg
	cfg.DatabaseSchema = env.schema("b4")
	cfg.Jobs.Workers.DocumentProofing = o.B4Workers
	log, tap := b4Logger(env)
	q, err := app.OpenQueue(ctx, cfg, log)
	if err != nil {
		return res, err
	}
	defer q.Close()
	if err := q.Migrate(ctx); err != nil {
		return res, err
	}
	rstore, err := redisresults.New(env.redis, env.sealer, results.Options{Prefix: env.redisPrefix("b4")})
	if err != nil {
		return res, err
	}
	defer rstore.Close()

	// The production handler (runner, document job), with the
	// zero-latency vendor in place of the HTTP client.
	c := &app.Components{Config: cfg, Log: log, Sealer: env.sealer, Results: rstore, Queue: q, Objects: store, Metrics: telemetry.NewMetrics()}
	h, err := c.Handlers(app.Proofers{Document: benchDocVendor{}})
	if err != nil {
		return res, err
	}
	doc := h[idv.JobDocument]

	// Upload and enqueue every job first, as browsers and the web tier
	// would have.
	uploadStart := time.Now()
	ids, uploaded, err := b4Fill(ctx, env, q, store, o)
	if err != nil {
		return res, err
	}
	uploadTook := time.Since(uploadStart)

	counter := newJobCounter(doc, o.B4Jobs)
	wc := c.WorkerConfig(map[idv.JobKind]idv.JobHandler{idv.JobDocument: counter})
	wc.CaptureSessionRetention = -1
	workers, err := q.StartWorkers(ctx, wc)
	if err != nil {
		return res, err
	}
	select {
	case <-counter.done:
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	_ = workers.Stop(sctx)
	if n := counter.finished.Load(); n < int64(o.B4Jobs) {
		return res, fmt.Errorf("only %d of %d document jobs finished (%v)", n, o.B4Jobs, ctx.Err())
	}
	counter.mu.Lock()
	span := counter.lastEnd.Sub(time.Unix(0, counter.firstStart.Load()))
	handled := slices.Clone(counter.runs)
	counter.mu.Unlock()

	bad := 0
	for _, id := range ids {
		r, err := rstore.Load(ctx, id)
		if err != nil || r.Result == nil || r.Result.Outcome != idv.OutcomeSuccess {
			bad++
		}
	}
	if bad > 0 {
		return res, fmt.Errorf("%d of %d document jobs did not store a successful result", bad, len(ids))
	}

	tap.mu.Lock()
	timings := slices.Clone(tap.got)
	tap.mu.Unlock()
	if len(timings) < o.B4Jobs {
		return res, fmt.Errorf("only %d job log lines with timings (log level %q hides them?)", len(timings), cfg.Log.Level)
	}
	var decrypt, download time.Duration
	var beyond, beyondNoDecrypt, runs []time.Duration
	for _, t := range timings {
		decrypt += t.decrypt
		download += t.download
		runs = append(runs, t.run)
		beyond = append(beyond, t.run-t.download)
		beyondNoDecrypt = append(beyondNoDecrypt, t.run-t.download-t.decrypt)
	}
	slices.Sort(beyond)
	slices.Sort(beyondNoDecrypt)
	slices.Sort(runs)
	slices.Sort(handled)
	plainBytes := float64(2 * o.B4ImageSize * len(timings))
	decryptRate := plainBytes / decrypt.Seconds() / 1e9
	res.metric("decrypt rate in jobs", decryptRate, "GB/s")
	res.metric("download rate in jobs", plainBytes/download.Seconds()/1e6, "MB/s")
	res.metric("job run p50", ms(percentile(runs, 50)), "ms")
	res.metric("job run p99", ms(percentile(runs, 99)), "ms")
	res.metric("beyond the transfer p50", ms(percentile(beyond, 50)), "ms")
	res.metric("beyond the transfer p99", ms(percentile(beyond, 99)), "ms")
	res.metric("beyond transfer and decrypt p50", ms(percentile(beyondNoDecrypt, 50)), "ms")
	res.metric("handler incl. image deletes p50", ms(percentile(handled, 50)), "ms")
	res.metric("document jobs", float64(o.B4Jobs)/span.Seconds(), "jobs/s")
	res.metric("upload (browser PUTs) and enqueue", float64(uploaded)/uploadTook.Seconds()/1e6, "MB/s")
	res.Target = &Target{Text: "decryption at least 1 GB/s", Met: decryptRate >= 1}
	res.note("decrypt rate = plaintext bytes / time in seal.OpenImage inside jobs (%d workers at once on %d CPUs); 'beyond the transfer' = job run - both downloads (stale guard, arguments, URL checks, decrypt, vendor, result, outcome row); the zero-latency vendor takes no time", o.B4Workers, runtime.NumCPU())
	return res, nil
}

// b4Logger is the bench's log with a tap on job lines; the level must let
// info lines through for the timings to be seen.
func b4Logger(env *env) (*slog.Logger, *jobLogTap) {
	tap := &jobLogTap{next: env.logOut}
	level, _ := telemetry.ParseLevel(env.cfg.Log.Level)
	return telemetry.NewLogger(tap, min(level, slog.LevelInfo)), tap
}

// b4OpenImageRate times seal.OpenImage on one image, on one goroutine.
func b4OpenImageRate(size int) float64 {
	key, iv, img := make([]byte, seal.ImageKeySize), make([]byte, seal.ImageIVSize), make([]byte, size)
	_, _ = rand.Read(key)
	_, _ = rand.Read(iv)
	_, _ = rand.Read(img)
	ct, err := seal.SealImage(key, iv, img)
	if err != nil {
		return 0
	}
	n, start := 0, time.Now()
	for time.Since(start) < 500*time.Millisecond {
		if _, err := seal.OpenImage(key, iv, ct); err != nil {
			return 0
		}
		n++
	}
	return float64(n*size) / time.Since(start).Seconds() / 1e9
}

// b4Fill encrypts and uploads two images per job through pre-signed URLs,
// as the capture page does, and enqueues the jobs. It returns the result
// ids and the bytes uploaded.
func b4Fill(ctx context.Context, env *env, q *queue.Queue, store *s3.Store, o Settings) ([]string, int, error) {
	img := make([]byte, o.B4ImageSize)
	_, _ = rand.Read(img)
	// A JPEG's first bytes: the worker refuses anything that does not
	// start as a picture (test files are off here, as in production).
	copy(img, []byte{0xff, 0xd8, 0xff, 0xe0})
	client := &http.Client{Timeout: time.Minute}
	ids := make([]string, o.B4Jobs)
	uploaded := 0
	for i := range ids {
		args := idv.DocumentArguments{CaptureID: idv.NewID(), EncryptionKey: make([]byte, seal.ImageKeySize)}
		_, _ = rand.Read(args.EncryptionKey)
		for _, side := range idv.Sides {
			im := args.Image(side)
			im.IV = make([]byte, seal.ImageIVSize)
			_, _ = rand.Read(im.IV)
			ct, err := seal.SealImage(args.EncryptionKey, im.IV, img)
			if err != nil {
				return nil, 0, err
			}
			u, err := store.PresignPut(ctx, idv.DocumentImageKey(args.CaptureID, side), int64(len(ct)), 5*time.Minute)
			if err != nil {
				return nil, 0, err
			}
			if err := b4Put(ctx, client, u, ct); err != nil {
				return nil, 0, err
			}
			im.URL = u
			uploaded += len(ct)
		}
		plain, err := json.Marshal(args)
		if err != nil {
			return nil, 0, err
		}
		now := time.Now()
		cs := idv.CaptureSession{ID: idv.NewID(), ResultID: idv.NewID(), Kind: idv.JobDocument, RequestedAt: now}
		sealed, err := env.sealer.Seal(ctx, plain, idv.JobAAD(idv.JobDocument, cs.ResultID))
		if err != nil {
			return nil, 0, err
		}
		job := idv.Job{Kind: idv.JobDocument, ResultID: cs.ResultID, TraceID: "bench", EnqueuedAt: now, EncryptedArguments: sealed}
		if err := q.Submit(ctx, cs, job); err != nil {
			return nil, 0, err
		}
		ids[i] = cs.ResultID
	}
	return ids, uploaded, nil
}

// b4Put is the browser's upload: one PUT of the ciphertext.
func b4Put(ctx context.Context, c *http.Client, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pre-signed PUT: HTTP %d", resp.StatusCode)
	}
	return nil
}

// b4Store opens the configured bucket (objects.bucket set) or starts
// versitygw on loopback with a bucket of this run. stop ends what was
// started here.
func b4Store(ctx context.Context, env *env) (*s3.Store, string, func(), error) {
	if env.cfg.Objects.Bucket != "" {
		st, err := app.OpenS3(ctx, env.cfg)
		if err != nil {
			return nil, "", nil, err
		}
		return st, "configured bucket " + env.cfg.Objects.Bucket, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "idv-bench-s3-")
	if err != nil {
		return nil, "", nil, err
	}
	gw, err := versitygw.Start(ctx, dir)
	if errors.Is(err, versitygw.ErrNotInstalled) {
		err = fmt.Errorf("B4 needs S3: set objects.bucket (and endpoint) or install versitygw: %w", err)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", nil, err
	}
	stop := func() { gw.Stop(); _ = os.RemoveAll(dir) }
	st, err := s3.New(ctx, s3.Config{Bucket: "idv-bench-" + env.runID, Region: gw.Region, Endpoint: gw.Endpoint,
		PathStyle: true, AccessKeyID: gw.AccessKey, SecretAccessKey: gw.SecretKey})
	if err == nil {
		err = st.EnsureBucket(ctx)
	}
	if err != nil {
		stop()
		return nil, "", nil, err
	}
	return st, "versitygw " + gw.Version + " on a local folder", stop, nil
}
