package node

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleLogger keeps Pebble's informational output out of the member's and turns a fatal
// error into a panic, so a simulated member's storage failure is a loud, seeded crash rather
// than os.Exit.
type pebbleLogger struct{}

func (pebbleLogger) Infof(string, ...interface{})  {}
func (pebbleLogger) Errorf(string, ...interface{}) {}
func (pebbleLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf("pebble fatal: "+format, args...))
}

func pebbleOptions(cfg Config) *pebble.Options {
	opts := &pebble.Options{FS: cfg.FS, Logger: pebbleLogger{}}
	if cfg.SmallCaches {
		opts.MemTableSize = 4 << 20
		opts.CacheSize = 1 << 20
	}
	return opts
}
