// Package sim simulates idv's vendors over HTTP, deterministically, so that
// development, QA scripts and load tests need no vendor accounts.
//
// It serves the protocol of package vendors (wire.go) and reproduces the
// trigger values of the identity provider behind the seeds, which QA
// scripts and developer docs depend on:
//
//	POST /resolution/verify  first name containing "Fail" (any case): HTTP 500 (exception)
//	                         SSN 000-00-0000 (dashes optional): connection dropped (unreachable)
//	                         first name containing (any case)
//	                           "Bad":   failure, first_name mismatch
//	                           "Time":  no answer until the client gives up (timeout)
//	                           "Parse": a body that is not JSON (exception)
//	                         SSN not starting 900 or 666 (nor allow-listed): failure, ssn
//	                         ZIP 00000: failure, zipcode
//	POST /state_id/verify    ID number "mvatimeout" (any case): the vendor reports
//	                           an MVA timeout (AAMVA ExceptionId 0047)
//	                         jurisdiction not supported: failure, state_id_jurisdiction
//	                         ID number of only zeros: failure, state_id_number
//	POST /phone/verify       7035555555: failure, phone unverifiable
//	                         7035555888: no answer until the client gives up (timeout)
//	                         7035555999: HTTP 500 (exception)
//	POST /document/verify    multipart parts front and back; either "image" may be a
//	                         YAML or JSON mapping (see document.go):
//	                           simulate: timeout | exception | unparseable | unreachable
//	                           http_status: {front|back|result: 500}: HTTP 500 (exception)
//	                           http_status: {front|back: 438|439|440}: failure, image code
//	                           an empty image: failure, image_load_failure on its side
//	                           failed_alerts / doc_auth_result: failure, document codes;
//	                             only "2D Barcode Read" at Attention: success with
//	                             barcode: [barcode_attention]
//	                           document: PII read, merged over DefaultDocument
//	                         anything else (a real image): success, DefaultDocument
//	GET  /health             200
//
// The checks run in the order listed; anything else succeeds. The
// simulator never logs and never echoes a request: its requests are full of
// PII.
package sim

import (
	"net/http"
	"strings"
	"time"

	"github.com/idv-dev/idv/vendors"
)

// DefaultHang bounds how long a timeout trigger holds a request whose client
// has not gone away, so a client with a long timeout cannot pin a handler
// forever.
const DefaultHang = 30 * time.Second

// maxRequest bounds a request body. Vendor requests are small JSON objects.
const maxRequest = 64 << 10

// Options configures a Simulator. The zero value simulates instant vendors.
type Options struct {
	// Latency is added to every vendor request before it is answered, for
	// load tests. A client that gives up meanwhile is not answered.
	Latency time.Duration
	// Hang is how long a timeout trigger waits for the client to give up
	// before answering HTTP 504; zero means DefaultHang.
	Hang time.Duration
	// AllowedSSNs are SSNs (dashes optional) that resolve like those
	// starting 900 or 666 (the seeds' test_ssn_allowed_list).
	AllowedSSNs []string
	// Jurisdictions are the state-ID jurisdictions the state-ID vendor
	// supports; nil means every US state, DC and the territories.
	Jurisdictions []string
}

// Simulator is the vendor simulators as one http.Handler.
type Simulator struct {
	latency       time.Duration
	hang          time.Duration
	allowedSSNs   map[string]bool
	jurisdictions map[string]bool
	mux           *http.ServeMux
}

// defaultJurisdictions are the 50 states, DC and the five inhabited
// territories.
var defaultJurisdictions = strings.Fields(`AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA
	ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY
	DC AS GU MP PR VI`)

// New returns a Simulator configured by o.
func New(o Options) *Simulator {
	s := &Simulator{
		latency:       o.Latency,
		hang:          o.Hang,
		allowedSSNs:   map[string]bool{},
		jurisdictions: map[string]bool{},
		mux:           http.NewServeMux(),
	}
	if s.hang <= 0 {
		s.hang = DefaultHang
	}
	for _, v := range o.AllowedSSNs {
		s.allowedSSNs[digits(v)] = true
	}
	js := o.Jurisdictions
	if js == nil {
		js = defaultJurisdictions
	}
	for _, j := range js {
		s.jurisdictions[strings.ToUpper(strings.TrimSpace(j))] = true
	}
	s.mux.HandleFunc("GET "+vendors.PathHealth, serveHealth)
	s.mux.Handle("POST "+vendors.PathResolution, verify(s, s.resolution))
	s.mux.Handle("POST "+vendors.PathStateID, verify(s, s.stateID))
	s.mux.Handle("POST "+vendors.PathPhone, verify(s, s.phone))
	s.mux.HandleFunc("POST "+vendors.PathDocument, s.document)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// serveHealth answers without the simulated latency: a health check asks
// whether the path to the vendor works, not how busy it is.
func serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// digits keeps the ASCII digits of v.
func digits(v string) string {
	var b strings.Builder
	for _, r := range v {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
