package vendors

// This file is the wire protocol between idv and its vendors: the paths and
// the JSON bodies. The simulators in vendors/sim serve it. An adapter for a
// real vendor with another protocol replaces the request building and the
// response decoding of one client, and keeps the mapping to idv.VendorResult.

import "github.com/idv-dev/idv"

// Paths of the vendor endpoints, relative to a vendor's base URL.
const (
	PathResolution = "/resolution/verify"
	PathStateID    = "/state_id/verify"
	PathPhone      = "/phone/verify"
	// PathDocument takes a multipart/form-data POST with the parts "front"
	// and "back" (application/octet-stream, the decrypted images) and
	// answers a DocumentResponse.
	PathDocument = "/document/verify"
	// PathHealth answers 200 when the vendor is up; it carries no PII, so
	// outbound health checks can use it through the egress proxy.
	PathHealth = "/health"
)

// ResolutionRequest asks an identity-resolution vendor (LexisNexis
// InstantVerify-like) whether name, date of birth, SSN and address belong
// to one real person.
type ResolutionRequest struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	DOB       string `json:"dob"` // YYYY-MM-DD
	SSN       string `json:"ssn"` // NNN-NN-NNNN
	Address1  string `json:"address1"`
	Address2  string `json:"address2,omitempty"`
	City      string `json:"city"`
	State     string `json:"state"`
	ZIPCode   string `json:"zipcode"`
}

// StateIDRequest asks an AAMVA-like service whether a state-issued ID
// matches the issuing state's records.
type StateIDRequest struct {
	StateIDNumber       string `json:"state_id_number"`
	StateIDJurisdiction string `json:"state_id_jurisdiction"`
	StateIDExpiration   string `json:"state_id_expiration,omitempty"` // YYYY-MM-DD
	FirstName           string `json:"first_name"`
	LastName            string `json:"last_name"`
	DOB                 string `json:"dob"`
	Address1            string `json:"address1"`
	Address2            string `json:"address2,omitempty"`
	City                string `json:"city"`
	State               string `json:"state"`
	ZIPCode             string `json:"zipcode"`
}

// PhoneRequest asks a phone-ownership vendor (PhoneFinder-like) whether a
// phone number belongs to the person. It carries no SSN or address: the
// vendor does not need them to answer.
type PhoneRequest struct {
	Phone     string `json:"phone"` // ten digits
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	DOB       string `json:"dob"`
}

// VerifyResponse is every vendor's answer. Errors map an attribute name to
// short codes (e.g. "ssn": ["ssn_not_found"]), never to text that could
// echo the request.
type VerifyResponse struct {
	// Success is required: a body without it is not an answer.
	Success *bool               `json:"success"`
	Errors  map[string][]string `json:"errors,omitempty"`
	// TimedOut reports a timeout behind the vendor, such as a state's motor
	// vehicle agency not answering AAMVA in time (AAMVA ExceptionId 0047).
	TimedOut bool `json:"timed_out,omitempty"`
	// Exception is a code for a fault the vendor reports about itself.
	Exception          string   `json:"exception,omitempty"`
	TransactionID      string   `json:"transaction_id,omitempty"`
	Reference          string   `json:"reference,omitempty"`
	VerifiedAttributes []string `json:"verified_attributes,omitempty"`
}

// Multipart parts of a document request.
const (
	PartFront = string(idv.SideFront)
	PartBack  = string(idv.SideBack)
)

// MaxDocumentRequest bounds a document request: two images of at most
// idv.MaxImageBytes each, plus room for the multipart framing.
const MaxDocumentRequest = 2*idv.MaxImageBytes + 64<<10

// DocumentResponse is a document-authentication vendor's answer: the verdict
// on the document (errors keyed by DocAttr*, codes DocCode*) and the PII
// printed on it. A passing document whose barcode could not be read is a
// success whose errors hold barcode: [barcode_attention].
type DocumentResponse struct {
	VerifyResponse
	Document *DocumentFields `json:"document,omitempty"`
}

// DocumentFields are the PII a vendor read from a document.
type DocumentFields struct {
	FirstName           string `json:"first_name,omitempty"`
	LastName            string `json:"last_name,omitempty"`
	DOB                 string `json:"dob,omitempty"` // YYYY-MM-DD
	Address1            string `json:"address1,omitempty"`
	Address2            string `json:"address2,omitempty"`
	City                string `json:"city,omitempty"`
	State               string `json:"state,omitempty"`
	ZIPCode             string `json:"zipcode,omitempty"`
	StateIDNumber       string `json:"state_id_number,omitempty"`
	StateIDJurisdiction string `json:"state_id_jurisdiction,omitempty"`
	StateIDExpiration   string `json:"state_id_expiration,omitempty"` // YYYY-MM-DD
}

// Attributes and codes of document answers. They are the domain's (see
// idv.DocumentErrorMessage), so a page can explain every one of them.
const (
	AttrFront     = idv.DocAttrFront
	AttrBack      = idv.DocAttrBack
	AttrBarcode   = idv.DocAttrBarcode
	AttrDocument  = idv.DocAttrDocument
	AttrIDExpired = idv.DocAttrIDExpired

	CodeImageLoadFailure    = idv.DocCodeImageLoadFailure
	CodePixelDepthFailure   = idv.DocCodePixelDepthFailure
	CodeImageSizeFailure    = idv.DocCodeImageSizeFailure
	CodeBarcodeUnreadable   = idv.DocCodeBarcodeUnreadable
	CodeBarcodeAttention    = idv.DocCodeBarcodeAttention
	CodeBarcodeMismatch     = idv.DocCodeBarcodeMismatch
	CodeDocumentExpired     = idv.DocCodeExpired
	CodeDocumentTypeUnknown = idv.DocCodeTypeUnknown
	CodeDetailsMismatch     = idv.DocCodeDetailsMismatch
	CodeFeaturesUnverified  = idv.DocCodeFeaturesUnverified
	CodeDocumentUnverified  = idv.DocCodeUnverified
	CodeImageTooLarge       = idv.DocCodeImageTooLarge
)

// Error codes the simulators return, per attribute.
const (
	CodeSSNNotFound             = "ssn_not_found"
	CodeFirstNameMismatch       = "first_name_mismatch"
	CodeZIPCodeUnverified       = "zipcode_unverified"
	CodeStateIDNumberInvalid    = "state_id_number_invalid"
	CodeJurisdictionUnsupported = "jurisdiction_unsupported"
	CodePhoneUnverifiable       = "phone_unverifiable"
	CodeMVATimeout              = "mva_timeout"
)
