package config

import (
	"strings"
	"testing"
)

func TestValidateAdmin(t *testing.T) {
	t.Parallel()
	const hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	tests := []struct {
		name, user, hash string
		want             string // "" means valid
	}{
		{name: "off"},
		{name: "on", user: "ops", hash: hash},
		{name: "upper-case hex", user: "ops", hash: strings.ToUpper(hash)},
		{name: "user without hash", user: "ops", want: "web.admin_password_sha256"},
		{name: "hash without user", hash: hash, want: "web.admin_user"},
		{name: "colon in user", user: "o:ps", hash: hash, want: "web.admin_user"},
		{name: "not hex", user: "ops", hash: strings.Repeat("z", 64), want: "web.admin_password_sha256"},
		{name: "a password, not its hash", user: "ops", hash: "hunter2", want: "web.admin_password_sha256"},
		{name: "empty password's hash", user: "ops", hash: emptySHA256, want: "web.admin_password_sha256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Defaults()
			cfg.Web.AdminUser, cfg.Web.AdminPasswordSHA256 = tc.user, tc.hash
			err := cfg.Validate(RoleDev)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want+":")):
				t.Fatalf("want an error naming %s, got %v", tc.want, err)
			}
			if err != nil && tc.hash != "" && strings.Contains(err.Error(), tc.hash) {
				t.Fatalf("the error repeats the configured hash: %v", err)
			}
		})
	}
}
