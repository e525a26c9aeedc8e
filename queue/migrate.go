package queue

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFS holds idv's own migrations, one directory per backend. Files
// are named NNN_what.sql; NNN is the version recorded in idv_migrations.
// Migrations are only ever added, never edited once released.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrationTarget is where migrations are applied. apply must check, inside
// its transaction, that the version is not recorded yet and record it, so a
// migration runs once even if two runners meet.
type migrationTarget interface {
	ensureTable(ctx context.Context) error
	apply(ctx context.Context, m migration) error
}

// applyOwn applies idv's migrations for backend (a directory under
// migrations/) in version order.
func applyOwn(ctx context.Context, backend string, t migrationTarget) error {
	ms, err := loadMigrations(backend)
	if err != nil {
		return err
	}
	if err := t.ensureTable(ctx); err != nil {
		return fmt.Errorf("idv_migrations: %w", err)
	}
	for _, m := range ms {
		if err := t.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func loadMigrations(backend string) ([]migration, error) {
	dir := path.Join("migrations", backend)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version < 1 {
			return nil, fmt.Errorf("migration %s: want NNN_name.sql", e.Name())
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, e.Name(), version)
		}
		seen[version] = e.Name()
		b, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}
