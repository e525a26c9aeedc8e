// Package objects holds the adapters of idv.ObjectStore, where the images of
// identity documents wait between the browser's upload and the worker's
// download:
//
//   - objects/s3: S3 (or any S3-compatible store) through aws-sdk-go-v2;
//     the browser PUTs through pre-signed SigV4 URLs.
//   - objects/local: a folder, for `idv dev`; the web server itself serves
//     the upload URLs, which carry an HMAC signature and an expiry.
//   - objects/objectstest: the conformance suite both adapters pass.
//
// This package has what both share: the rules for a clean object key and the
// check that a URL is one a store issued. A submitted URL is only ever
// parsed, never fetched, so a person cannot make the server or a worker talk
// to a host of their choosing, and a key taken from a URL is clean enough to
// become a file path or an S3 key unchanged.
package objects
