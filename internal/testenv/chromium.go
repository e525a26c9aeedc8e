package testenv

import (
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's Chromium, which .ci/services installs.
const ChromiumPath = "/usr/bin/chromium"

// ChromiumOptions are the options of a headless Chromium for a test, with a
// profile of its own. It resolves no name but loopback ones: pages link to
// relying parties' hosts (https://rentals.test/...) that a test must never
// look up, prefetch or reach, and the browser's own background traffic is
// off.
func ChromiumOptions(tb testing.TB) []chromedp.ExecAllocatorOption {
	tb.Helper()
	if _, err := exec.LookPath(ChromiumPath); err != nil {
		tb.Fatalf("Chromium is not installed at %s (apt-get install chromium; .ci/services does): %v", ChromiumPath, err)
	}
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"),
		chromedp.Flag("dns-prefetch-disable", true),
	)
}
