package vendors

import "net/http"

// Clients are the vendor clients built from one Config, sharing one
// connection pool and egress proxy.
type Clients struct {
	// HTTP is the shared client, also the one to use for CheckOutbound.
	HTTP       *http.Client
	Resolution *Resolution
	StateID    *StateID
	Phone      *Phone
	// Document is nil when no document URL is configured (neither
	// Document.URL nor BaseURL): such a deployment has no document step.
	Document *Document
	// Config is cfg with every default applied.
	Config Config
}

// New checks cfg, applies its defaults and builds every client.
func New(cfg Config) (*Clients, error) {
	cfg, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	hc, err := NewHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	c := &Clients{HTTP: hc, Config: cfg}
	if c.Resolution, err = NewResolution(hc, cfg.Resolution); err != nil {
		return nil, err
	}
	if c.StateID, err = NewStateID(hc, cfg.StateID); err != nil {
		return nil, err
	}
	if c.Phone, err = NewPhone(hc, cfg.Phone); err != nil {
		return nil, err
	}
	if cfg.Document.URL != "" {
		if c.Document, err = NewDocument(hc, cfg.Document); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// HealthURL returns the health URL of the vendor at base, for CheckOutbound.
func HealthURL(base string) string { return join(base, PathHealth) }
