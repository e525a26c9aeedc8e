package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idv-dev/idv/config"
	"github.com/idv-dev/idv/internal/app"
)

// The operators' commands of the relying parties' side: idv rp, idv keys
// rotate-signing (in runKeys) and idv webhooks.

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runRP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := `Manage relying parties: the services that ask idv to verify people.

  idv rp create --name NAME --return-url URL [--return-url URL...] [--webhook-url URL] [--outputs name,dob,...]
                [--redirect-uri URL...] [--token-auth-method client_secret_basic|private_key_jwt] [--jwks FILE]
  idv rp list
  idv rp rotate-key RP_ID
  idv rp disable RP_ID

create and rotate-key print a secret once: store it at once, it is not shown again.`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, usage)
		if len(args) == 0 {
			return fmt.Errorf("no rp action given")
		}
		return flag.ErrHelp
	}
	action, args := args[0], args[1:]
	f := newFlags("rp "+action, usage, stdout, false, "")
	var name, webhookURL, outputs string
	var returnURLs, redirectURIs stringList
	var insecure bool
	var authMethod, jwksFile string
	if action == "create" {
		f.fs.StringVar(&name, "name", "", "the service's `NAME`, shown to people (\"Continue to NAME\")")
		f.fs.Var(&returnURLs, "return-url", "a `URL` people may be sent back to, matched exactly (repeat for more)")
		f.fs.StringVar(&webhookURL, "webhook-url", "", "the `URL` that receives webhook events (https, public)")
		f.fs.StringVar(&outputs, "outputs", "", "comma-separated verified attributes the service may read: name, dob, address, id_document, phone")
		f.fs.BoolVar(&insecure, "insecure", false, "allow http URLs (tests and development only)")
		f.fs.Var(&redirectURIs, "redirect-uri", "an OpenID Connect redirect `URL`, matched exactly (repeat for more): makes the service an OIDC client whose client_id is its id")
		f.fs.StringVar(&authMethod, "token-auth-method", "client_secret_basic", "how the OIDC client authenticates at the token endpoint: client_secret_basic (its api_key is the client secret) or private_key_jwt")
		f.fs.StringVar(&jwksFile, "jwks", "", "a `FILE` with the OIDC client's public keys (a JSON Web Key Set), for private_key_jwt")
	}
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	a, done, err := f.openAdmin(ctx, stderr)
	if err != nil {
		return err
	}
	defer done()
	switch action {
	case "create":
		var outs []string
		if outputs != "" {
			outs = strings.Split(outputs, ",")
		}
		var jwks []byte
		if jwksFile != "" {
			if jwks, err = os.ReadFile(jwksFile); err != nil {
				return err
			}
		}
		c, err := a.CreateRelyingParty(ctx, app.NewRelyingParty{Name: name, ReturnURLs: returnURLs, WebhookURL: webhookURL, Outputs: outs, Insecure: insecure,
			RedirectURIs: redirectURIs, TokenAuthMethod: authMethod, JWKS: string(jwks)})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "relying party %s created (%s)\napi_key: %s\n", c.RelyingParty.ID, c.RelyingParty.Name, c.APIKey)
		if len(c.RelyingParty.RedirectURIs) > 0 {
			fmt.Fprintf(stdout, "oidc client_id: %s (token endpoint auth: %s)\n", c.RelyingParty.ID, c.RelyingParty.TokenAuthMethod)
		}
		if c.WebhookSecret != "" {
			fmt.Fprintf(stdout, "webhook_secret: %s\n", c.WebhookSecret)
		}
		fmt.Fprintln(stdout, "Store these now: they are not shown again.")
	case "list":
		rps, err := a.Queue.RelyingParties(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tKEY\tWEBHOOK\tOIDC\tCREATED\tSTATE")
		for _, rp := range rps {
			state := "enabled"
			if rp.Disabled() {
				state = "disabled " + rp.DisabledAt.Format(time.RFC3339)
			}
			oidc := "-"
			if len(rp.RedirectURIs) > 0 {
				oidc = rp.TokenAuthMethod
			}
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", rp.ID, rp.Name, rp.APIKeyHint, cmpOrDash(rp.WebhookURL), oidc, rp.CreatedAt.Format(time.RFC3339), state)
		}
		return tw.Flush()
	case "rotate-key":
		id, err := oneArg(f.fs)
		if err != nil {
			return err
		}
		key, err := a.RotateRelyingPartyKey(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "relying party %s: new api_key: %s\nThe old key no longer works. Store this one now: it is not shown again.\n", id, key)
	case "disable":
		id, err := oneArg(f.fs)
		if err != nil {
			return err
		}
		if err := a.Queue.DisableRelyingParty(ctx, id, time.Now().UTC()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "relying party %s disabled: its key no longer works\n", id)
	default:
		return fmt.Errorf("unknown rp action %q (want create, list, rotate-key or disable)", action)
	}
	return nil
}

func runWebhooks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "Deliver a webhook event again, with the same webhook-id.\n\n  idv webhooks replay EVENT_ID"
	if len(args) == 0 || args[0] != "replay" {
		fmt.Fprintln(stdout, usage)
		return fmt.Errorf("want: idv webhooks replay EVENT_ID")
	}
	f := newFlags("webhooks replay", usage, stdout, false, "")
	if err := f.fs.Parse(args[1:]); err != nil {
		return err
	}
	id, err := oneArg(f.fs)
	if err != nil {
		return err
	}
	a, done, err := f.openAdmin(ctx, stderr)
	if err != nil {
		return err
	}
	defer done()
	if err := a.Queue.ReplayWebhook(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "webhook event %s queued for delivery again\n", id)
	return nil
}

func oneArg(fs *flag.FlagSet) (string, error) {
	if fs.NArg() != 1 {
		return "", fmt.Errorf("want exactly one id, got %d arguments", fs.NArg())
	}
	return fs.Arg(0), nil
}

func cmpOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rotateSigning is `idv keys rotate-signing`.
func rotateSigning(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) error {
	a, done, err := openAdmin(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer done()
	kid, err := a.RotateSigning(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "receipt signing key %s is current; the previous key stays published in the JWKS\n", kid)
	return nil
}

// openAdmin loads the configuration the flags point at and opens what an
// operator command needs (see openAdmin).
func (c *commonFlags) openAdmin(ctx context.Context, stderr io.Writer) (*app.Admin, func(), error) {
	cfg, err := config.Load(c.configPath, os.Environ())
	if err != nil {
		return nil, nil, err
	}
	return openAdmin(ctx, cfg, stderr)
}

// openAdmin validates cfg for an operator command, opens its log (to
// stderr, so stdout carries only the command's answer), the database and
// the sealer; done closes them.
func openAdmin(ctx context.Context, cfg config.Config, stderr io.Writer) (a *app.Admin, done func(), err error) {
	if err := cfg.Validate(config.RoleMigrate); err != nil {
		return nil, nil, err
	}
	log, closeLog, err := logger(cfg, stderr)
	if err != nil {
		return nil, nil, err
	}
	if a, err = app.OpenAdmin(ctx, cfg, log); err != nil {
		closeLog()
		return nil, nil, err
	}
	return a, func() { a.Close(); closeLog() }, nil
}
