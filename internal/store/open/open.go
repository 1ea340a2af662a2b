package open

import (
	"context"
	"fmt"

	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/store/postgres"
	"github.com/gantry-dev/gantry/internal/store/sqlite"
)

// Drivers accepted by Open.
const (
	driverSQLite   = "sqlite"
	driverPostgres = "postgres"
)

// defaultSQLitePath is the database file used when driver is sqlite (or
// empty) and dsn is empty.
const defaultSQLitePath = "./data/gantry.db"

// Open opens the store for driver ("sqlite", the default when empty, or
// "postgres") at dsn and applies pending migrations. The caller closes it.
func Open(ctx context.Context, driver, dsn string) (store.Store, error) {
	switch driver {
	case "", driverSQLite:
		if dsn == "" {
			dsn = defaultSQLitePath
		}
		s, err := sqlite.Open(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return s, nil
	case driverPostgres:
		if dsn == "" {
			return nil, fmt.Errorf("opening postgres store: storage.dsn is required")
		}
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, fmt.Errorf("opening store: unknown driver %q (want sqlite or postgres)", driver)
	}
}
