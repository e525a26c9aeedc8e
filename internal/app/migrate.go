package app

import (
	"context"
	"log/slog"

	"github.com/idv-dev/idv/config"
)

// Migrate applies River's migrations and idv's to database_url, in
// database_schema (safe to run again).
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	q, err := OpenQueue(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer q.Close()
	if err := q.Migrate(ctx); err != nil {
		return err
	}
	log.Info("migrations applied")
	return nil
}
