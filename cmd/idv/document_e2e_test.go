package main

// End-to-end tests of the document step in the production shape: web and
// worker processes, PostgreSQL, Redis, S3 (versitygw) and the document
// simulator behind the egress proxy. The person's browser is emulated here
// (images encrypted exactly as WebCrypto does, PUT to the pre-signed URLs);
// browser_test.go drives a real Chromium through the same flow.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/internal/testenv"
	"github.com/idv-dev/idv/objects/s3"
	"github.com/idv-dev/idv/seal"
)

// docEnv points web and worker at the test's S3 server, with the document
// step on and YAML stand-ins allowed (the simulator's triggers).
func docEnv(s *testenv.S3Server) []string {
	return []string{
		"IDV_DOC_AUTH_ENABLED=true", "IDV_DOC_AUTH_ALLOW_TEST_FILES=true",
		"IDV_OBJECTS_BUCKET=" + s.Bucket, "IDV_OBJECTS_ENDPOINT=" + s.Endpoint, "IDV_OBJECTS_REGION=" + s.Region,
		"IDV_OBJECTS_PATH_STYLE=true", "IDV_OBJECTS_ACCESS_KEY_ID=" + s.AccessKey, "IDV_OBJECTS_SECRET_ACCESS_KEY=" + s.SecretKey,
	}
}

var (
	captureIDRE = regexp.MustCompile(`name="capture_id" value="([^"]+)"`)
	imageKeyRE  = regexp.MustCompile(`data-image-key-id="([^"]+)" data-image-key="([^"]+)"`)
)

// capturePage is what the capture page gives the browser: the attempt's
// capture id, no upload URL (the page asks for one per upload), and under
// hpke the workers' public key.
type capturePage struct {
	captureID string
	keyID     string
	key       []byte // raw P-256 public key; nil under form_key
}

func (p *person) openCapture() capturePage {
	p.t.Helper()
	code, _, body := p.do("GET", "/verify/document_capture", nil)
	id := captureIDRE.FindStringSubmatch(body)
	if code != 200 || id == nil || strings.Contains(body, "data-front-url") {
		p.t.Fatalf("capture page: %d %.400s", code, body)
	}
	page := capturePage{captureID: id[1]}
	if k := imageKeyRE.FindStringSubmatch(body); k != nil {
		page.keyID = k[1]
		var err error
		if page.key, err = base64.RawURLEncoding.DecodeString(k[2]); err != nil {
			p.t.Fatalf("image key on the page: %v", err)
		}
	}
	return page
}

// uploadURL asks for an upload URL as the page's script does, just before
// a PUT of size bytes; it returns the status and the URL (or the error).
func (p *person) uploadURL(captureID string, side idv.Side, size int) (int, string) {
	p.t.Helper()
	code, _, body := p.do("POST", "/verify/document_capture/upload_url",
		url.Values{"capture_id": {captureID}, "side": {string(side)}, "size": {strconv.Itoa(size)}})
	var a struct{ URL, Error string }
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		p.t.Fatalf("upload URL answer %d is not JSON: %.300s", code, body)
	}
	if code == http.StatusOK {
		return code, a.URL
	}
	return code, a.Error
}

// resolve is the URL a browser on p's pages PUTs to for an upload URL:
// the local store's are path-only, relative to the page's origin; S3's are
// absolute and stay as they are.
func (p *person) resolve(raw string) string {
	p.t.Helper()
	base, err := url.Parse(p.Base)
	if err != nil {
		p.t.Fatal(err)
	}
	ref, err := url.Parse(raw)
	if err != nil {
		p.t.Fatalf("upload URL does not parse: %v", err)
	}
	return base.ResolveReference(ref).String()
}

// putObject PUTs body to a pre-signed URL as the page's script does.
func putObject(t testing.TB, rawURL string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, rawURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// docUpload describes what the emulated browser does with one capture.
type docUpload struct {
	front, back []byte
	skipBack    bool // never upload the back
	tamperFront bool // flip a byte of the uploaded ciphertext
	wrongBackIV bool // submit an IV other than the one used (hpke: seal the back as the front)
	// hpke only: seal to this key instead of the page's (nil: the page's).
	keyID string
	key   []byte
}

// uploadDocument does what the capture page's script does and returns the
// form it would submit. stored reads an object back from the store, to
// check that it holds ciphertext only.
func (p *person) uploadDocument(stored func(key string) ([]byte, error), u docUpload) url.Values {
	p.t.Helper()
	return p.uploadTo(p.openCapture(), stored, u)
}

// uploadTo is uploadDocument on a capture page opened before.
func (p *person) uploadTo(page capturePage, stored func(key string) ([]byte, error), u docUpload) url.Values {
	p.t.Helper()
	if page.key != nil {
		return p.uploadHPKE(page, stored, u)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	form := url.Values{"capture_id": {page.captureID}, "encryption_key": {base64.StdEncoding.EncodeToString(key)}}
	for _, side := range []struct {
		name string
		img  []byte
	}{{"front", u.front}, {"back", u.back}} {
		iv := make([]byte, 12)
		_, _ = rand.Read(iv)
		ct, err := seal.SealImage(key, iv, side.img)
		if err != nil {
			p.t.Fatal(err)
		}
		if side.name == "front" && u.tamperFront {
			ct[len(ct)/2] ^= 0x01
		}
		code, signed := p.uploadURL(page.captureID, idv.Side(side.name), len(ct))
		if code != http.StatusOK {
			p.t.Fatalf("upload URL for the %s: %d %s", side.name, code, signed)
		}
		if !(side.name == "back" && u.skipBack) {
			if code := putObject(p.t, p.resolve(signed), ct); code < 200 || code > 299 {
				p.t.Fatalf("PUT %s: HTTP %d", side.name, code)
			}
			// What S3 holds is the ciphertext, never the image.
			got, err := stored(idv.DocumentImageKey(page.captureID, idv.Side(side.name)))
			if err != nil || !bytes.Equal(got, ct) || bytes.Contains(got, side.img[:min(16, len(side.img))]) {
				p.t.Fatalf("stored %s object is not the ciphertext: %v", side.name, err)
			}
		}
		if side.name == "back" && u.wrongBackIV {
			iv[0] ^= 0xff
		}
		form.Set(side.name+"_image_iv", base64.StdEncoding.EncodeToString(iv))
		form.Set(side.name+"_image_url", signed)
	}
	return form
}

// uploadHPKE does what the page's script does under hpke: each image
// sealed to the workers' public key (Go's crypto/hpke in place of
// hpke.js, which TestHPKEInteropInBrowser holds to the same bytes), and a
// form of the capture id and URLs only.
func (p *person) uploadHPKE(page capturePage, stored func(key string) ([]byte, error), u docUpload) url.Values {
	p.t.Helper()
	keyID, raw := page.keyID, page.key
	if u.key != nil {
		keyID, raw = u.keyID, u.key
	}
	pub, err := seal.ImageKEM().NewPublicKey(raw)
	if err != nil {
		p.t.Fatal(err)
	}
	form := url.Values{"capture_id": {page.captureID}}
	for _, side := range []struct {
		name string
		img  []byte
	}{{"front", u.front}, {"back", u.back}} {
		info := seal.ImageInfo(page.captureID, idv.Side(side.name))
		if side.name == "back" && u.wrongBackIV {
			info = seal.ImageInfo(page.captureID, idv.SideFront)
		}
		obj, err := seal.SealImageHPKE(pub, keyID, info, side.img)
		if err != nil {
			p.t.Fatal(err)
		}
		if side.name == "front" && u.tamperFront {
			obj[len(obj)-1] ^= 0x01
		}
		code, signed := p.uploadURL(page.captureID, idv.Side(side.name), len(obj))
		if code != http.StatusOK {
			p.t.Fatalf("upload URL for the %s: %d %s", side.name, code, signed)
		}
		if !(side.name == "back" && u.skipBack) {
			if code := putObject(p.t, p.resolve(signed), obj); code < 200 || code > 299 {
				p.t.Fatalf("PUT %s: HTTP %d", side.name, code)
			}
			got, err := stored(idv.DocumentImageKey(page.captureID, idv.Side(side.name)))
			if err != nil || !bytes.Equal(got, obj) || bytes.Contains(got, side.img[:min(16, len(side.img))]) {
				p.t.Fatalf("stored %s object is not the ciphertext: %v", side.name, err)
			}
		}
		form.Set(side.name+"_image_url", signed)
	}
	return form
}

// yamlDocument is a stand-in "image" that picks the simulator's answer.
func yamlDocument(body string) []byte { return []byte(body) }

const canaryDocument = `document:
  first_name: Zorblecanary
  last_name: Quuxcanarylast
  dob: "1971-03-17"
  address1: 4417 Zyzzyvacanary Lane
  city: Plughcanaryville
  state: VA
  zipcode: "22201"
  state_id_number: CANARYID77
  state_id_jurisdiction: VA
`

func TestDocumentFlowProduction(t *testing.T) {
	t.Parallel()
	pe := setupProduction(t)
	s3srv := testenv.S3(t)
	env := append(append([]string{}, pe.env...), docEnv(s3srv)...)
	run1(t, env, "migrate")
	web := start(t, env, "web", "web", "--addr", "127.0.0.1:0")
	worker := start(t, env, "worker", "worker", "--addr", "127.0.0.1:0")
	base := web.waitURL(t)
	worker.waitURL(t)
	if out := run1(t, append(env, "IDV_OBJECTS_CORS_ORIGIN="+base), "storage"); !strings.Contains(out, "uploads allowed from "+base) {
		t.Fatalf("idv storage: %s", out)
	}
	store, err := s3.New(context.Background(), s3.Config{Bucket: s3srv.Bucket, Region: s3srv.Region, Endpoint: s3srv.Endpoint,
		PathStyle: true, AccessKeyID: s3srv.AccessKey, SecretAccessKey: s3srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	photo := testenv.PNG(t, 64, 40)
	stored := func(key string) ([]byte, error) { return store.Get(context.Background(), key) }
	rp := newRP(t, env, base, nil)
	otherKey, err := seal.ImageKEM().GenerateKey()
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		upload  docUpload
		want    string
		page    string // text the next page shows
		prefill string // a value verify_info must show as read from the ID
	}{
		{name: "a real photo passes", upload: docUpload{front: photo, back: photo}, want: "/verify/verify_info", prefill: "MCFAKERSON"},
		{name: "the ID's contents pre-fill the next step", upload: docUpload{front: yamlDocument(canaryDocument), back: photo},
			want: "/verify/verify_info", prefill: "Zorblecanary"},
		{name: "the vendor refuses the document", upload: docUpload{
			front: yamlDocument("doc_auth_result: Failed\nfailed_alerts:\n  - name: Document Expired\n    result: Failed\n"), back: photo},
			want: "/verify/errors/warning?step=document_capture", page: "We couldn&#39;t verify your ID"},
		{name: "barcode attention passes with a note", upload: docUpload{
			front: yamlDocument("doc_auth_result: Attention\nfailed_alerts:\n  - name: 2D Barcode Read\n    result: Attention\n"), back: photo},
			want: "/verify/verify_info", prefill: "MCFAKERSON"},
		{name: "vendor exception", upload: docUpload{front: yamlDocument("simulate: exception\n"), back: photo},
			want: "/verify/errors/exception?step=document_capture"},
		{name: "tampered ciphertext", upload: docUpload{front: photo, back: photo, tamperFront: true},
			want: "/verify/errors/warning?step=document_capture", page: htmlText(idv.DocumentErrorMessage(idv.DocCodeImageUnreadable))},
		{name: "back sealed as the front", upload: docUpload{front: photo, back: photo, wrongBackIV: true},
			want: "/verify/errors/warning?step=document_capture", page: htmlText(idv.DocumentErrorMessage(idv.DocCodeImageUnreadable))},
		{name: "sealed to a key the workers never had", upload: docUpload{front: photo, back: photo, keyID: "nonesuch", key: otherKey.PublicKey().Bytes()},
			want: "/verify/errors/warning?step=document_capture", page: htmlText(idv.DocumentErrorMessage(idv.DocCodeImageKeyUnknown))},
		{name: "missing object", upload: docUpload{front: photo, back: photo, skipBack: true},
			want: "/verify/errors/warning?step=document_capture", page: htmlText(idv.DocumentErrorMessage(idv.DocCodeImageMissing))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := rp.person(t)
			form := p.uploadDocument(stored, tc.upload)
			got := p.step("/verify/document_capture", form)
			if got != tc.want {
				t.Fatalf("went to %q, want %q", got, tc.want)
			}
			_, _, body := p.do("GET", got, nil)
			if tc.page != "" && !strings.Contains(body, tc.page) {
				t.Fatalf("page lacks %q: %.600s", tc.page, body)
			}
			if tc.prefill != "" && !strings.Contains(fromID(body), tc.prefill) {
				t.Fatalf("verify_info not pre-filled with %q: %.600s", tc.prefill, body)
			}
		})
	}

	// The seeds' protocol on a second web server, against the same
	// workers: a key made by the page and posted with the form.
	t.Run("form_key", func(t *testing.T) {
		fk := start(t, append(env, "IDV_DOC_AUTH_IMAGE_ENCRYPTION=form_key"), "web", "web", "--addr", "127.0.0.1:0")
		fkBase := fk.waitURL(t)
		for _, tc := range []struct {
			name   string
			upload docUpload
			want   string
		}{
			{"a real photo passes", docUpload{front: photo, back: photo}, "/verify/verify_info"},
			{"wrong IV", docUpload{front: photo, back: photo, wrongBackIV: true}, "/verify/errors/warning?step=document_capture"},
		} {
			p := rp.person(t)
			p.Base = fkBase // same cookies: the session is in Redis
			page := p.openCapture()
			if page.key != nil {
				t.Fatal("form_key page carries an image key")
			}
			if got := p.step("/verify/document_capture", p.uploadTo(page, stored, tc.upload)); got != tc.want {
				t.Fatalf("%s: went to %q, want %q", tc.name, got, tc.want)
			}
		}
		web.out.Write([]byte(fk.out.String()))
	})

	// Rotation mid-flow: a page opened before `idv keys rotate-image`
	// keeps the old key, and what it sealed still opens; the next page
	// has the new key. An image sealed to a key retired longer ago than an
	// upload can take is refused with its own message.
	t.Run("image key rotation", func(t *testing.T) {
		p := rp.person(t)
		before := p.openCapture()
		if before.key == nil {
			t.Fatal("the default capture page carries no image key")
		}
		if out := run1(t, env, "keys", "rotate-image"); !strings.Contains(out, "is current") {
			t.Fatalf("idv keys rotate-image: %s", out)
		}
		if got := p.step("/verify/document_capture", p.uploadTo(before, stored, docUpload{front: photo, back: photo})); got != "/verify/verify_info" {
			t.Fatalf("upload sealed to the previous key went to %q", got)
		}
		var after capturePage
		deadline := time.Now().Add(90 * time.Second) // the web tier rereads the key every minute
		for {
			after = rp.person(t).openCapture()
			if after.keyID != before.keyID || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if after.keyID == before.keyID {
			t.Fatalf("capture pages still carry key %s after the rotation", before.keyID)
		}

		// A key retired two days ago, as the database holds it.
		old, err := seal.ImageKEM().GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		db, err := pgx.Connect(context.Background(), pe.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close(context.Background())
		if _, err := db.Exec(context.Background(), `INSERT INTO `+pgx.Identifier{pe.schema}.Sanitize()+`.idv_image_keys
			(kid, public_key, sealed_private_key, created_at, retired_at) VALUES ($1, $2, $3, now() - interval '3 days', now() - interval '2 days')`,
			"retired-key", old.PublicKey().Bytes(), []byte("sealed bytes never opened")); err != nil {
			t.Fatal(err)
		}
		p = rp.person(t)
		got := p.step("/verify/document_capture", p.uploadDocument(stored, docUpload{front: photo, back: photo, keyID: "retired-key", key: old.PublicKey().Bytes()}))
		if got != "/verify/errors/warning?step=document_capture" {
			t.Fatalf("upload sealed to a retired key went to %q", got)
		}
		if _, _, body := p.do("GET", got, nil); !strings.Contains(body, htmlText(idv.DocumentErrorMessage(idv.DocCodeImageKeyRetired))) {
			t.Fatalf("page for a retired key: %.600s", body)
		}
		if !worker.logs(idv.DocCodeImageKeyRetired) {
			t.Error("the worker's log does not name the retired key refusal")
		}
	})

	// Issue 13: upload URLs had no size bound and lived 12 h. Through the
	// production web role and versitygw: a URL takes exactly the length
	// it was asked for (a PUT one byte or 12 MiB longer is refused, and
	// nothing is stored); once the attempt's job is enqueued no URL is
	// minted for it.
	t.Run("upload URLs are bound to a length and end with the attempt", func(t *testing.T) {
		p := rp.person(t)
		page := p.openCapture()
		ct := make([]byte, 4096)
		_, _ = rand.Read(ct)
		code, signed := p.uploadURL(page.captureID, idv.SideFront, len(ct))
		if code != http.StatusOK {
			t.Fatalf("upload URL: %d %s", code, signed)
		}
		if q, _ := url.Parse(signed); q == nil || q.Query().Get("X-Amz-Expires") != "300" ||
			!strings.Contains(q.Query().Get("X-Amz-SignedHeaders"), "content-length") {
			t.Fatalf("upload URL %s: want X-Amz-Expires=300 and content-length signed", signed)
		}
		big := make([]byte, 12<<20)
		for name, body := range map[string][]byte{"one byte more": append(ct[:len(ct):len(ct)], 0), "12 MiB": big} {
			// versitygw may answer 403 and close before reading a large
			// body: the client then sees a broken pipe, also a refusal.
			req, _ := http.NewRequest(http.MethodPut, signed, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/octet-stream")
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusForbidden {
					t.Errorf("%s: PUT of %d bytes to a URL for %d answered %d, want 403", name, len(body), len(ct), res.StatusCode)
				}
			}
		}
		key := idv.DocumentImageKey(page.captureID, idv.SideFront)
		if _, err := store.Get(context.Background(), key); idv.ErrorCode(err) != idv.ENOTFOUND {
			t.Fatalf("after refused PUTs, Get: %v, want ENOTFOUND", err)
		}
		if code := putObject(t, signed, ct); code != http.StatusOK {
			t.Fatalf("PUT of the announced length: %d", code)
		}
		// A second page's form for the same attempt, then the submit.
		form := p.uploadDocument(stored, docUpload{front: photo, back: photo})
		if code, loc, body := p.do("POST", "/verify/document_capture", form); code != http.StatusSeeOther || loc != "/verify/document_capture" {
			t.Fatalf("submit: %d %q %.300s", code, loc, body)
		}
		if code, msg := p.uploadURL(page.captureID, idv.SideBack, 100); code != http.StatusConflict {
			t.Errorf("upload URL after the job was enqueued: %d %s, want 409", code, msg)
		}
		_ = p.waitStep("/verify/document_capture")
	})

	t.Run("a URL the server did not issue is refused before any fetch", func(t *testing.T) {
		p := rp.person(t)
		form := p.uploadDocument(stored, docUpload{front: photo, back: photo})
		form.Set("back_image_url", s3srv.Endpoint+"/"+s3srv.Bucket+"/"+idv.DocumentImageKey(idv.NewID(), "back"))
		if code, _, body := p.do("POST", "/verify/document_capture", form); code != http.StatusUnprocessableEntity {
			t.Fatalf("%d %.300s", code, body)
		}
	})

	t.Run("after the document, the whole flow", func(t *testing.T) {
		p := rp.person(t)
		if got := p.step("/verify/document_capture", p.uploadDocument(stored, docUpload{front: photo, back: photo})); got != "/verify/verify_info" {
			t.Fatalf("document went to %q", got)
		}
		if got := p.verify(canaryForm("Xylocanary", "900-41-7723", "22201", "CANARYID77")); got != "/verify/phone" {
			t.Fatalf("verify_info went to %q", got)
		}
		if got := p.step("/verify/phone", url.Values{"phone": {"7035550199"}}); got != "/verify/result" {
			t.Fatalf("phone went to %q", got)
		}
		if _, _, body := p.do("GET", "/verify/result", nil); !strings.Contains(body, "a check of your ID") {
			t.Fatalf("result page: %.400s", body)
		}
	})

	// Pre-signed uploads off: a second web server takes the photos itself
	// and seals them before they reach the bucket.
	t.Run("images posted to the web server", func(t *testing.T) {
		posted := start(t, append(env, "IDV_DOC_AUTH_PRESIGNED_UPLOADS=false"), "web", "web", "--addr", "127.0.0.1:0")
		p := rp.person(t)
		p.Base = posted.waitURL(t) // same cookies: the session is in Redis
		if got := p.postDocument(yamlDocument(canaryDocument), photo); got != "/verify/verify_info" {
			t.Fatalf("went to %q", got)
		}
		web.out.Write([]byte(posted.out.String()))
	})

	// Nothing personal in plaintext: PostgreSQL, Redis, logs, the proxy's
	// log, and the bucket (what is left of it).
	dump := dumpStores(t, pe, web, worker, pe.vendors)
	objects := bucketObjects(t, s3srv)
	for _, b := range objects {
		dump.Write(b)
	}
	all := strings.ToLower(dump.String())
	for _, c := range append(canaries, "Zorblecanary") {
		if strings.Contains(all, strings.ToLower(c)) {
			t.Errorf("canary %q found in plaintext", c)
		}
	}
	if log := pe.proxy.Log(t); !strings.Contains(log, "POST "+pe.vendorsURL+"/document/verify") {
		t.Error("document vendor traffic did not go through the egress proxy")
	}
	t.Logf("scanned %d bytes; %d objects left in the bucket", dump.Len(), len(objects))
}

// postDocument submits the capture form with the photos themselves, as the
// page does when pre-signed uploads are off, and waits for the result.
func (p *person) postDocument(front, back []byte) string {
	p.t.Helper()
	code, _, body := p.do("GET", "/verify/document_capture", nil)
	id := captureIDRE.FindStringSubmatch(body)
	if code != 200 || id == nil || !strings.Contains(body, `enctype="multipart/form-data"`) {
		p.t.Fatalf("capture page: %d %.300s", code, body)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("capture_id", id[1])
	for side, b := range map[string][]byte{"front": front, "back": back} {
		w, _ := mw.CreateFormFile(side, side+".png")
		_, _ = w.Write(b)
	}
	_ = mw.Close()
	req, _ := http.NewRequest("POST", p.Base+"/verify/document_capture", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := p.Client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 303 {
		p.t.Fatalf("post: %d", res.StatusCode)
	}
	return p.waitStep("/verify/document_capture")
}

// bucketObjects reads every object left in the test's bucket.
func bucketObjects(t *testing.T, s *testenv.S3Server) [][]byte {
	t.Helper()
	ctx := context.Background()
	c := s.Client()
	list, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(s.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, o := range list.Contents {
		res, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		out = append(out, b)
	}
	return out
}

// fromIDRE is verify_info's list of what was read from the ID (bound
// fields are shown, not editable).
var fromIDRE = regexp.MustCompile(`(?s)<dl class="from-id">.*?</dl>`)

// fromID returns what verify_info's page shows as read from the ID.
func fromID(page string) string { return fromIDRE.FindString(page) }

// htmlText escapes s as html/template does in text.
func htmlText(s string) string { return strings.ReplaceAll(s, "'", "&#39;") }
