package idv

import "fmt"

// Attributes under which document errors are reported in
// VendorResult.Errors. The image attributes name the side a problem is on,
// so the page can say which photo to take again.
const (
	DocAttrFront     = string(SideFront) // the photo of the front
	DocAttrBack      = string(SideBack)  // the photo of the back
	DocAttrBarcode   = "barcode"         // the 2D barcode on the back
	DocAttrDocument  = "document"        // the document as a whole
	DocAttrIDExpired = "id_expired"      // the document's expiry
)

// Document error codes. A vendor adapter translates its vendor's alerts into
// these, so pages, logs and metrics speak one vocabulary whatever the vendor.
// They are codes, never texts: DocumentErrorMessage turns one into words.
const (
	// The vendor could not open the image (not a picture, or damaged).
	DocCodeImageLoadFailure = "image_load_failure"
	// The image has too little colour depth: a scan, fax or screenshot.
	DocCodePixelDepthFailure = "pixel_depth_failure"
	// The image has too few pixels to read.
	DocCodeImageSizeFailure = "image_size_failure"
	// The barcode on the back could not be read, so the ID was not verified.
	DocCodeBarcodeUnreadable = "barcode_unreadable"
	// The barcode could not be read but the document passed: a note for
	// the person, not a failure (the result is a success).
	DocCodeBarcodeAttention = "barcode_attention"
	// The barcode's content disagrees with the printed front.
	DocCodeBarcodeMismatch = "barcode_mismatch"
	// The document has expired.
	DocCodeExpired = "document_expired"
	// The vendor could not tell what kind of document this is.
	DocCodeTypeUnknown = "document_type_unknown"
	// Fields printed on the document contradict each other (crosschecks).
	DocCodeDetailsMismatch = "document_details_mismatch"
	// Security features (pattern, photo, colour) did not check out.
	DocCodeFeaturesUnverified = "document_features_unverified"
	// The document did not pass, for no reason more specific than the above.
	DocCodeUnverified = "document_unverified"

	// Problems idv finds before a vendor is asked (the document job).
	DocCodeImageMissing    = "image_missing"     // no image was uploaded
	DocCodeImageUnreadable = "image_unreadable"  // the image did not decrypt
	DocCodeImageTooLarge   = "image_too_large"   // over MaxImageBytes
	DocCodeImageURLInvalid = "image_url_invalid" // an image URL this capture did not issue
	// The image is not a JPEG, PNG or WebP by its first bytes (test files
	// not allowed: doc_auth.allow_test_files).
	DocCodeImageTypeUnsupported = "image_type_unsupported"

	// Problems with an image the browser encrypted to the workers' HPKE
	// key (doc_auth.image_encryption: hpke; docs/encryption.md). A
	// ciphertext that fails authentication is DocCodeImageUnreadable.
	DocCodeImageHeaderInvalid = "image_header_invalid" // not idv's header: magic, version, key id or enc altered
	DocCodeImageTruncated     = "image_truncated"      // the object ends inside its header or tag
	DocCodeImageKeyUnknown    = "image_key_unknown"    // sealed to a key id the workers never had
	DocCodeImageKeyRetired    = "image_key_retired"    // sealed to a key retired longer than an upload can take
	// The encapsulated key was seen before: front and back of one capture
	// share it, or another capture's image used it.
	DocCodeImageEncapsulationReused = "image_encapsulation_reused"
)

// documentMessages are written for the person holding the ID: what went
// wrong in plain words, then what to do about it. They never name a vendor
// or repeat anything read from the document.
var documentMessages = map[string]string{
	DocCodeImageLoadFailure: "We couldn't open your photo. Take a new photo of your ID with your " +
		"camera and upload it as a JPEG or PNG file.",
	DocCodePixelDepthFailure: "Your photo doesn't have enough detail for us to check. Take a new " +
		"color photo of your ID with your camera, rather than a scan or a screenshot.",
	DocCodeImageSizeFailure: "Your photo is too small for us to read. Take a new photo with your ID " +
		"filling most of the picture.",
	DocCodeBarcodeUnreadable: "We couldn't read the barcode on the back of your ID. Take a new " +
		"photo of the back in good light, with the whole barcode in view and in focus.",
	DocCodeBarcodeAttention: "We couldn't read the barcode on the back of your ID, but we were " +
		"still able to check your ID. Please make sure the information on the next page is right.",
	DocCodeBarcodeMismatch: "The barcode on the back of your ID doesn't match what's printed on " +
		"the front. Take new photos of the front and back of the same ID, in good light.",
	DocCodeExpired: "Your ID has expired. Please try again with an ID that is still valid.",
	DocCodeTypeUnknown: "We couldn't tell what kind of ID this is. Use a U.S. driver's license or " +
		"state ID card, and take new photos of the front and back.",
	DocCodeDetailsMismatch: "Some details on your ID didn't agree with each other when we read " +
		"them. Take new, sharp photos of the front and back, without glare or shadows.",
	DocCodeFeaturesUnverified: "We couldn't check the security features of your ID. Use your " +
		"original ID, not a copy or a picture of a screen, and take new photos of it on a dark, " +
		"flat surface.",
	DocCodeUnverified: "We couldn't verify your ID from these photos. Take new photos of the " +
		"front and back on a dark, flat surface in good light, and try again.",
	DocCodeImageMissing: "We didn't receive both photos of your ID. Add a photo of the front and " +
		"one of the back, then try again.",
	DocCodeImageUnreadable: "We couldn't open the photos you sent. Take new photos of the front " +
		"and back of your ID, and try again.",
	DocCodeImageTooLarge: fmt.Sprintf("Your photo is too large. Use a photo smaller than %d MB, "+
		"and try again.", MaxImageBytes>>20),
	DocCodeImageURLInvalid: "Something went wrong with your upload. Please add the photos of " +
		"the front and back of your ID again.",
	DocCodeImageTypeUnsupported: "We couldn't use your file because it isn't a photo. Take a " +
		"photo of your ID with your camera and upload it as a JPEG, PNG or WebP file.",
	DocCodeImageHeaderInvalid: "We couldn't open the photos you sent: they were changed after " +
		"they left your device. Add the photos of the front and back of your ID again.",
	DocCodeImageTruncated: "Your photos didn't arrive whole. Check your connection, then add the " +
		"photos of the front and back of your ID again.",
	DocCodeImageKeyUnknown: "We couldn't open the photos you sent. Reload this page, then add the " +
		"photos of the front and back of your ID again.",
	DocCodeImageKeyRetired: "The page you sent your photos from was open too long. Reload it, then " +
		"add the photos of the front and back of your ID again.",
	DocCodeImageEncapsulationReused: "Your browser didn't encrypt your photos correctly. Reload this " +
		"page, then add the photos of the front and back of your ID again.",
}

// documentFallback is for a code with no message of its own: a code a
// vendor adapter passed on untranslated, or one the scrubbing of vendor
// answers replaced.
const documentFallback = "Something went wrong when we checked your ID. Take new photos of " +
	"the front and back of your ID in good light, and try again."

// DocumentErrorMessage returns a sentence a person can act on for a
// document error code. Every code gets a message: an unknown one gets a
// general one, so a page never shows a raw code or nothing at all.
func DocumentErrorMessage(code string) string {
	if m, ok := documentMessages[code]; ok {
		return m
	}
	return documentFallback
}

// DocumentErrorCodes lists every code DocumentErrorMessage has its own
// message for.
func DocumentErrorCodes() []string {
	return []string{
		DocCodeImageLoadFailure, DocCodePixelDepthFailure, DocCodeImageSizeFailure,
		DocCodeBarcodeUnreadable, DocCodeBarcodeAttention, DocCodeBarcodeMismatch,
		DocCodeExpired, DocCodeTypeUnknown, DocCodeDetailsMismatch, DocCodeFeaturesUnverified,
		DocCodeUnverified, DocCodeImageMissing, DocCodeImageUnreadable, DocCodeImageTooLarge,
		DocCodeImageURLInvalid, DocCodeImageTypeUnsupported, DocCodeImageHeaderInvalid,
		DocCodeImageTruncated, DocCodeImageKeyUnknown, DocCodeImageKeyRetired,
		DocCodeImageEncapsulationReused,
	}
}
