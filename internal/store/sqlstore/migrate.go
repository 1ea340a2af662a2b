package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/store/migrations"
)

// Migrate applies the pending migrations for dialect in one write
// transaction; Write's serialisation makes it safe when several nodes start
// at once. Versions the database has but this binary does not know are left
// alone, so an older node can run beside a newer one during a rollout as
// long as migrations only add.
func Migrate(ctx context.Context, d Driver, dialect migrations.Dialect) error {
	all, err := migrations.All(dialect)
	if err != nil {
		return err
	}
	table, err := dialect.Expand(migrations.TableSQL)
	if err != nil {
		return err
	}
	err = d.Write(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, table); err != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		rows, err := q.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return fmt.Errorf("reading schema_migrations: %w", err)
			}
			applied[v] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		rows.Close()
		for _, m := range all {
			if applied[m.Version] {
				continue
			}
			if _, err := q.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying migration %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := q.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, now()); err != nil {
				return fmt.Errorf("recording migration %04d_%s: %w", m.Version, m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrating %s schema: %w", dialect.Name, err)
	}
	return nil
}

// now is the store's clock: UTC at the precision both databases keep
// (PostgreSQL stores microseconds), so a value reads back equal.
func now() time.Time {
	return normTime(time.Now())
}

func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
