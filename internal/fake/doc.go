// Package fake holds the test doubles of idv's ports, shared by every
// package's tests so that each double is written, and fixed, once. Tests whose
// code talks to a real component (PostgreSQL, Redis, S3, a vendor over HTTP)
// use the real component through internal/testenv instead; a double stands in
// only where the component is beside the point of the test.
//
//   - Sealer seals without keys: deterministic, opaque, bound to its AAD and
//     tamper-evident (ETAMPERED), so the code under test can seal and open
//     without package seal, and a test can open what that code sealed.
//   - ObjectStore keeps document images in memory, issues URLs under
//     ObjectURLPrefix and records deletions, for the web tier and the document
//     job.
//   - Queue records the capture sessions and jobs the web tier submits, for
//     the step tests that then read what was enqueued.
//   - Observer records every event idv reports for metrics (idv.Observer),
//     for the tests of what the workers, job handlers and web tier report.
//
// For a result store, use the real in-memory adapter, results/memory, with
// Sealer. For a logger whose output a test reads, use testenv.Logger.
//
// A double's Fn fields, in the manner of WTF Dial's mock package, let a test
// inject behaviour (a store that is down, a queue that refuses): when one is
// set it answers its method instead of the double's own logic. Set them before
// the code under test runs: they are not guarded.
package fake
