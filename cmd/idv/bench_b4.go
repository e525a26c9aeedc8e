package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/jobs"
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

func benchImagePath(ctx context.Context, env *benchEnv, o benchOptions) (*benchResult, error) {
	res := &benchResult{Params: map[string]any{"jobs": o.b4Jobs, "image_bytes": o.b4ImageSize, "images_per_job": 2, "workers": o.b4Workers}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()

	// The single-core ceiling of the decryption itself, for comparison.
	res.metric("OpenImage alone, one core", b4OpenImageRate(o.b4ImageSize), "GB/s")

	store, where, stop, err := b4Store(ctx, env)
	if err != nil {
		return res, err
	}
	defer stop()
	res.Params["s3"] = where

	cfg := env.cfg
	log, tap := b4Logger(env)
	q, err := queue.OpenPostgres(ctx, cfg.DatabaseURL, queue.Config{Schema: env.schema("b4"), Logger: log})
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

	// The production wiring (runner, document handler), with the
	// zero-latency vendor in place of the HTTP client.
	cfg.Vendors.BaseURL, cfg.Vendors.ProxyURL = "http://127.0.0.1:9", ""
	vc, err := vendorClients(cfg)
	if err != nil {
		return res, err
	}
	h, err := handlers(cfg, env.sealer, rstore, q, log, vc, telemetry.NewMetrics())
	if err != nil {
		return res, err
	}
	if err := addDocumentHandler(h, store, vc); err != nil {
		return res, err
	}
	doc := h[idv.JobDocument].(*jobs.Document)
	doc.Vendor = benchDocVendor{}

	// Upload and enqueue every job first, as browsers and the web tier
	// would have.
	uploadStart := time.Now()
	ids, uploaded, err := b4Fill(ctx, env, q, store, o)
	if err != nil {
		return res, err
	}
	uploadTook := time.Since(uploadStart)

	counter := newJobCounter(doc, o.b4Jobs)
	cfg.Jobs.Workers.DocumentProofing = o.b4Workers
	wc := workerConfig(cfg, map[idv.JobKind]idv.JobHandler{idv.JobDocument: counter})
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
	if n := counter.finished.Load(); n < int64(o.b4Jobs) {
		return res, fmt.Errorf("only %d of %d document jobs finished (%v)", n, o.b4Jobs, ctx.Err())
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
	if len(timings) < o.b4Jobs {
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
	plainBytes := float64(2 * o.b4ImageSize * len(timings))
	decryptRate := plainBytes / decrypt.Seconds() / 1e9
	res.metric("decrypt rate in jobs", decryptRate, "GB/s")
	res.metric("download rate in jobs", plainBytes/download.Seconds()/1e6, "MB/s")
	res.metric("job run p50", ms(percentile(runs, 50)), "ms")
	res.metric("job run p99", ms(percentile(runs, 99)), "ms")
	res.metric("beyond the transfer p50", ms(percentile(beyond, 50)), "ms")
	res.metric("beyond the transfer p99", ms(percentile(beyond, 99)), "ms")
	res.metric("beyond transfer and decrypt p50", ms(percentile(beyondNoDecrypt, 50)), "ms")
	res.metric("handler incl. image deletes p50", ms(percentile(handled, 50)), "ms")
	res.metric("document jobs", float64(o.b4Jobs)/span.Seconds(), "jobs/s")
	res.metric("upload (browser PUTs) and enqueue", float64(uploaded)/uploadTook.Seconds()/1e6, "MB/s")
	res.Target = &benchTarget{Text: "decryption at least 1 GB/s", Met: decryptRate >= 1}
	res.note("decrypt rate = plaintext bytes / time in seal.OpenImage inside jobs (%d workers at once on %d CPUs); 'beyond the transfer' = job run - both downloads (stale guard, arguments, URL checks, decrypt, vendor, result, outcome row); the zero-latency vendor takes no time", o.b4Workers, runtime.NumCPU())
	return res, nil
}

// b4Logger is the bench's log with a tap on job lines; the level must let
// info lines through for the timings to be seen.
func b4Logger(env *benchEnv) (*slog.Logger, *jobLogTap) {
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
func b4Fill(ctx context.Context, env *benchEnv, q *queue.Queue, store *s3.Store, o benchOptions) ([]string, int, error) {
	img := make([]byte, o.b4ImageSize)
	_, _ = rand.Read(img)
	client := &http.Client{Timeout: time.Minute}
	ids := make([]string, o.b4Jobs)
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
			u, err := store.PresignPut(ctx, idv.DocumentImageKey(args.CaptureID, side), 15*time.Minute)
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
func b4Store(ctx context.Context, env *benchEnv) (*s3.Store, string, func(), error) {
	if env.cfg.Objects.Bucket != "" {
		st, err := openS3(ctx, env.cfg)
		if err != nil {
			return nil, "", nil, err
		}
		return st, "configured bucket " + env.cfg.Objects.Bucket, func() {}, nil
	}
	gw, err := startVersitygw(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	st, err := s3.New(ctx, s3.Config{Bucket: "idv-bench-" + env.runID, Region: "us-east-1", Endpoint: gw.endpoint,
		PathStyle: true, AccessKeyID: gw.access, SecretAccessKey: gw.secret})
	if err == nil {
		err = st.EnsureBucket(ctx)
	}
	if err != nil {
		gw.stop()
		return nil, "", nil, err
	}
	return st, "versitygw " + gw.version + " on a local folder", gw.stop, nil
}

type versitygw struct {
	endpoint, access, secret, version string
	stop                              func()
}

// startVersitygw starts versitygw (on PATH or in GOPATH/bin) on a free
// loopback port over a temporary folder, with credentials of this run, and
// waits (bounded) until it answers.
func startVersitygw(ctx context.Context) (*versitygw, error) {
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
		if _, err := os.Stat(bin); err != nil {
			return nil, errors.New("B4 needs S3: set objects.bucket (and endpoint) or install versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
		}
	}
	dir, err := os.MkdirTemp("", "idv-bench-s3-")
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	gw := &versitygw{endpoint: "http://" + addr, access: "BENCH" + strings.ToUpper(benchRandom()), secret: rand.Text() + rand.Text(), version: "(version unknown)"}
	if out, err := exec.Command(bin, "--version").CombinedOutput(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "v") && strings.Count(f, ".") >= 2 {
				gw.version = strings.TrimRight(f, ",")
				break
			}
		}
	}
	logf, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "--port", addr, "--access", gw.access, "--secret", gw.secret, "--region", "us-east-1",
		"--health", "/health", "--quiet", "posix", filepath.Join(dir, "data"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	gw.stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logf.Close()
		_ = os.RemoveAll(dir)
	}
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if resp, err := hc.Get(gw.endpoint + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return gw, nil
			}
		}
		select {
		case <-exited:
			gw.stop()
			return nil, errors.New("versitygw exited at start")
		case <-ctx.Done():
			gw.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond): // polling a port that is coming up
		}
		if time.Now().After(deadline) {
			gw.stop()
			return nil, errors.New("versitygw did not answer within 15s")
		}
	}
}
