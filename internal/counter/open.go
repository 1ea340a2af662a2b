package counter

import (
	"fmt"
	"log/slog"

	"github.com/gantry-dev/gantry/internal/config"
)

// Hooks connect a counter to the gateway's logging and metrics.
type Hooks struct {
	Logger        *slog.Logger
	OnStateChange func(up bool)
	OnError       func()
}

// Open builds the counter that the counters section asks for: a *Memory
// for driver memory (its quota counters are for the caller to save and
// restore), a *Redis for driver redis.
func Open(c config.Counters, h Hooks) (Counter, error) {
	switch c.Driver {
	case "memory", "":
		return NewMemory(MemoryOptions{}), nil
	case "redis":
		mode, ok := parseFailureMode(c.OnFailure)
		if !ok {
			return nil, fmt.Errorf("counters.on_failure: want allow or deny, got %q", c.OnFailure)
		}
		sync, ok := parseSync(c.Sync)
		if !ok {
			return nil, fmt.Errorf("counters.sync: want exact or batched, got %q", c.Sync)
		}
		return NewRedis(RedisOptions{
			URL:           c.RedisURL,
			Prefix:        c.KeyPrefix,
			OnFailure:     mode,
			Sync:          sync,
			BatchWindow:   c.BatchWindow.D(),
			Logger:        h.Logger,
			OnStateChange: h.OnStateChange,
			OnError:       h.OnError,
		})
	}
	return nil, fmt.Errorf("counters.driver: want memory or redis, got %q", c.Driver)
}
