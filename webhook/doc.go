// Package webhook sends idv's events to relying parties (RPs), signed the
// Standard Webhooks way (https://www.standardwebhooks.com), so an RP can
// check them with any of that project's libraries.
//
// Each request is a POST with Content-Type application/json and the headers
// webhook-id (the event's id: the same on every retry, so an RP can drop
// duplicates), webhook-timestamp (the attempt's time, in Unix seconds) and
// webhook-signature ("v1," and the base64 HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>" under the RP's secret). The
// body is thin and holds nothing about the person:
//
//	{
//	  "type": "verification.verified",
//	  "timestamp": "2025-01-02T03:04:05.123456Z",
//	  "data": {"verification_id": "…", "status": "verified"}
//	}
//
// timestamp is when the event happened (RFC 3339, UTC); the body is the
// same bytes on every attempt. An RP that wants more asks the API.
//
// Destinations must be https URLs of public addresses (CheckURL), checked
// again at connection time by the client NewHTTPClient builds, unless
// insecure destinations are allowed (tests, `idv dev`). Deliver makes one
// attempt; retries (NextRetry, MaxAttempts) belong to the caller's job.
package webhook
