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

// pebbleOptions are the member's Pebble options; corruption reports go to watch (see
// corruptionWatch), never to the Logger's Fatalf.
func pebbleOptions(cfg Config, watch *corruptionWatch) *pebble.Options {
	opts := &pebble.Options{FS: cfg.FS, WALDir: cfg.WALDir, Logger: pebbleLogger{}, EventListener: watch.listener()}
	opts.MemTableSize = cfg.PebbleMemTableBytes
	opts.CacheSize = cfg.PebbleCacheBytes
	if cfg.PebbleUncompressed {
		opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	}
	return opts
}
