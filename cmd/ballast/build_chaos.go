//go:build chaos || canary

package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ballastdb/ballast/canary"
	"github.com/ballastdb/ballast/kv/powerloss"
	"github.com/ballastdb/ballast/rpc/embed"
)

// SlowDiskFileName is the slow-disk control file in the data dir (see defineBuildFlags).
const SlowDiskFileName = "chaos-slow-disk"

// defineBuildFlags defines what only the chaos and canary builds (-tags chaos, -tags
// canary,chaos: the images ballast-chaos runs) have:
//   - --chaos-power-loss: Pebble runs on a kv/powerloss FS, which keeps unsynced writes in
//     process memory, so a kill -9 of the member is a power loss (what ballast-chaos calls
//     the power-loss fault); without it a kill -9 keeps the page cache. Every sync first
//     waits for the delay written in <data-dir>/chaos-slow-disk, when that file exists
//     (ballast-chaos's slow-disk fault copies it in), and what peers send it waits for the
//     delay in <data-dir>/chaos-net-delay (the latency fault; chaos_netdelay.go).
//   - BALLAST_CANARY (canary builds): the canary (package canary) this process runs; an
//     unknown name stops start-up naming the known ones.
func defineBuildFlags(fs *flag.FlagSet) func(*embed.Config) error {
	powerLoss := fs.Bool("chaos-power-loss", false, "chaos builds: keep unsynced writes in process memory, so a kill -9 loses them as a power loss does")
	return func(cfg *embed.Config) error {
		if *powerLoss {
			cfg.FS = powerloss.New(vfs.Default).SlowDiskFile(filepath.Join(cfg.DataDir, SlowDiskFileName))
			ctl := &delayControl{path: filepath.Join(cfg.DataDir, NetDelayFileName)}
			cfg.WrapPeerListener = func(ln net.Listener) net.Listener { return delayListener{Listener: ln, ctl: ctl} }
		}
		if name := os.Getenv("BALLAST_CANARY"); name != "" {
			if !canary.Enabled {
				return fmt.Errorf("BALLAST_CANARY=%s: this is not a canary build (build with -tags canary)", name)
			}
			if err := canary.Set(name); err != nil {
				return fmt.Errorf("BALLAST_CANARY: %w", err)
			}
		}
		return nil
	}
}
