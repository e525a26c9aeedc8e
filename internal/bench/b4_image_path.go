package bench

import (
	"bytes"
	"context"
	"crypto/hpke"
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
	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/imagekey"
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
	run               time.Duration
	download, decrypt time.Duration // both sides
	record            time.Duration // hpke: both encapsulated keys recorded
	vendor, store     time.Duration
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
				decrypt:  d("decrypt.front") + d("decrypt.back") + d("decrypt"), // form_key per side; hpke both at once
				record:   d("record_encapsulations"),
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
	res.metric("OpenImageHPKE alone, one core", b4OpenImageHPKERate(o.B4ImageSize), "GB/s")

	store, where, stop, err := b4Store(ctx, env)
	if err != nil {
		return res, err
	}
	defer stop()
	res.Params["s3"] = where

	// Both image encryptions in one run, one after the other, on the same
	// store, database and Redis: form_key (the seeds' protocol, a key in
	// the job's arguments) and hpke (sealed to the workers' key).
	got := map[string]map[string]float64{}
	for _, mode := range []string{config.ImageEncryptionFormKey, config.ImageEncryptionHPKE} {
		m, err := b4Mode(ctx, env, o, store, mode, res)
		if err != nil {
			return res, fmt.Errorf("%s: %w", mode, err)
		}
		got[mode] = m
	}
	fk, hp := got[config.ImageEncryptionFormKey], got[config.ImageEncryptionHPKE]
	res.metric("hpke/form_key decrypt rate", hp["decrypt"]/fk["decrypt"], "ratio")
	res.metric("hpke/form_key beyond the transfer p50", hp["beyond"]/fk["beyond"], "ratio")
	res.metric("hpke/form_key job run p50", hp["run"]/fk["run"], "ratio")
	res.Target = &Target{Text: "decryption at least 1 GB/s (form_key)", Met: fk["decrypt"] >= 1}
	res.note("decrypt rate = plaintext bytes / time decrypting inside jobs (%d workers at once on %d CPUs): form_key is seal.OpenImage per side; hpke is imagekey.Keys.OpenCapture's decryption of both sides (header parse, key lookup, HPKE decapsulation and open; the record of the encapsulated keys in PostgreSQL is timed apart); 'beyond the transfer' = job run - both downloads (stale guard, arguments, URL checks, decrypt, vendor, result, outcome row); the zero-latency vendor takes no time", o.B4Workers, runtime.NumCPU())
	return res, nil
}

// b4Mode runs B4's jobs with one image encryption and adds its metrics to
// res, each name prefixed with the mode; it returns the decrypt rate and
// the p50s the two modes are compared by.
func b4Mode(ctx context.Context, env *env, o Settings, store *s3.Store, mode string, res *Result) (map[string]float64, error) {
	cfg := env.cfg
	cfg.DatabaseSchema = env.schema("b4_" + mode)
	cfg.DocAuth.ImageEncryption = mode
	cfg.Jobs.Workers.DocumentProofing = o.B4Workers
	log, tap := b4Logger(env)
	q, err := app.OpenQueue(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	if err := q.Migrate(ctx); err != nil {
		return nil, err
	}
	rstore, err := redisresults.New(env.redis, env.sealer, results.Options{Prefix: env.redisPrefix("b4_" + mode)})
	if err != nil {
		return nil, err
	}
	defer rstore.Close()

	// The production handler (runner, document job), with the
	// zero-latency vendor in place of the HTTP client.
	c := &app.Components{Config: cfg, Log: log, Sealer: env.sealer, Results: rstore, Queue: q, Objects: store, Metrics: telemetry.NewMetrics()}
	var pub imagekey.PublicKey
	if mode == config.ImageEncryptionHPKE {
		// The workers' key, made as a worker makes it at start-up.
		if c.ImageKeys, err = imagekey.New(q.ImageKeys(), env.sealer, imagekey.Options{Grace: cfg.ImageKeyGrace()}); err != nil {
			return nil, err
		}
		if _, err := c.ImageKeys.EnsureKey(ctx); err != nil {
			return nil, err
		}
		if pub, err = c.ImageKeys.CurrentImageKey(ctx); err != nil {
			return nil, err
		}
	}
	h, err := c.Handlers(app.Proofers{Document: benchDocVendor{}})
	if err != nil {
		return nil, err
	}
	doc := h[idv.JobDocument]

	// Upload and enqueue every job first, as browsers and the web tier
	// would have.
	uploadStart := time.Now()
	ids, uploaded, err := b4Fill(ctx, env, q, store, o, pub)
	if err != nil {
		return nil, err
	}
	uploadTook := time.Since(uploadStart)

	counter := newJobCounter(doc, o.B4Jobs)
	wc := c.WorkerConfig(map[idv.JobKind]idv.JobHandler{idv.JobDocument: counter})
	wc.CaptureSessionRetention = -1
	workers, err := q.StartWorkers(ctx, wc)
	if err != nil {
		return nil, err
	}
	select {
	case <-counter.done:
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	_ = workers.Stop(sctx)
	if n := counter.finished.Load(); n < int64(o.B4Jobs) {
		return nil, fmt.Errorf("only %d of %d document jobs finished (%v)", n, o.B4Jobs, ctx.Err())
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
		return nil, fmt.Errorf("%d of %d document jobs did not store a successful result", bad, len(ids))
	}

	tap.mu.Lock()
	timings := slices.Clone(tap.got)
	tap.mu.Unlock()
	if len(timings) < o.B4Jobs {
		return nil, fmt.Errorf("only %d job log lines with timings (log level %q hides them?)", len(timings), cfg.Log.Level)
	}
	var decrypt, download time.Duration
	var beyond, beyondNoDecrypt, runs, records []time.Duration
	for _, t := range timings {
		records = append(records, t.record)
		decrypt += t.decrypt
		download += t.download
		runs = append(runs, t.run)
		beyond = append(beyond, t.run-t.download)
		beyondNoDecrypt = append(beyondNoDecrypt, t.run-t.download-t.decrypt)
	}
	slices.Sort(beyond)
	slices.Sort(records)
	slices.Sort(beyondNoDecrypt)
	slices.Sort(runs)
	slices.Sort(handled)
	plainBytes := float64(2 * o.B4ImageSize * len(timings))
	decryptRate := plainBytes / decrypt.Seconds() / 1e9
	p := func(name string) string { return mode + ": " + name }
	res.metric(p("decrypt rate in jobs"), decryptRate, "GB/s")
	res.metric(p("download rate in jobs"), plainBytes/download.Seconds()/1e6, "MB/s")
	res.metric(p("job run p50"), ms(percentile(runs, 50)), "ms")
	res.metric(p("job run p99"), ms(percentile(runs, 99)), "ms")
	res.metric(p("beyond the transfer p50"), ms(percentile(beyond, 50)), "ms")
	res.metric(p("beyond the transfer p99"), ms(percentile(beyond, 99)), "ms")
	res.metric(p("beyond transfer and decrypt p50"), ms(percentile(beyondNoDecrypt, 50)), "ms")
	if mode == config.ImageEncryptionHPKE {
		res.metric(p("record of both encapsulated keys p50"), ms(percentile(records, 50)), "ms")
	}
	res.metric(p("handler incl. image deletes p50"), ms(percentile(handled, 50)), "ms")
	res.metric(p("document jobs"), float64(o.B4Jobs)/span.Seconds(), "jobs/s")
	res.metric(p("upload (browser PUTs) and enqueue"), float64(uploaded)/uploadTook.Seconds()/1e6, "MB/s")
	return map[string]float64{"decrypt": decryptRate, "beyond": ms(percentile(beyond, 50)), "run": ms(percentile(runs, 50))}, nil
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

// b4OpenImageHPKERate times opening one HPKE-sealed image (header parse,
// decapsulation, key schedule, AES-256-GCM) on one goroutine.
func b4OpenImageHPKERate(size int) float64 {
	priv, err := seal.ImageKEM().GenerateKey()
	if err != nil {
		return 0
	}
	img := make([]byte, size)
	_, _ = rand.Read(img)
	info := seal.ImageInfo("bench", idv.SideFront)
	obj, err := seal.SealImageHPKE(priv.PublicKey(), "bench", info, img)
	if err != nil {
		return 0
	}
	n, start := 0, time.Now()
	for time.Since(start) < 500*time.Millisecond {
		h, err := seal.ParseImageHeader(obj)
		if err != nil {
			return 0
		}
		if _, err := seal.OpenImageHPKE(priv, h, obj, info); err != nil {
			return 0
		}
		n++
	}
	return float64(n*size) / time.Since(start).Seconds() / 1e9
}

// b4Fill encrypts and uploads two images per job through pre-signed URLs,
// as the capture page does, and enqueues the jobs. It returns the result
// ids and the bytes uploaded.
// With pub set (hpke) each image is sealed to it instead, and the
// arguments carry only the URLs.
func b4Fill(ctx context.Context, env *env, q *queue.Queue, store *s3.Store, o Settings, pub imagekey.PublicKey) ([]string, int, error) {
	var hpkePub hpke.PublicKey
	if pub.ID != "" {
		var err error
		if hpkePub, err = seal.ImageKEM().NewPublicKey(pub.Raw); err != nil {
			return nil, 0, err
		}
	}
	img := make([]byte, o.B4ImageSize)
	_, _ = rand.Read(img)
	// A JPEG's first bytes: the worker refuses anything that does not
	// start as a picture (test files are off here, as in production).
	copy(img, []byte{0xff, 0xd8, 0xff, 0xe0})
	client := &http.Client{Timeout: time.Minute}
	ids := make([]string, o.B4Jobs)
	uploaded := 0
	for i := range ids {
		args := idv.DocumentArguments{CaptureID: idv.NewID()}
		if hpkePub != nil {
			args.ImageEncryption = idv.ImageEncryptionHPKE
		} else {
			args.EncryptionKey = make([]byte, seal.ImageKeySize)
			_, _ = rand.Read(args.EncryptionKey)
		}
		for _, side := range idv.Sides {
			im := args.Image(side)
			var ct []byte
			var err error
			if hpkePub != nil {
				ct, err = seal.SealImageHPKE(hpkePub, pub.ID, seal.ImageInfo(args.CaptureID, side), img)
			} else {
				im.IV = make([]byte, seal.ImageIVSize)
				_, _ = rand.Read(im.IV)
				ct, err = seal.SealImage(args.EncryptionKey, im.IV, img)
			}
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
