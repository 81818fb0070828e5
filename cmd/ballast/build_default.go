//go:build !chaos && !canary

package main

import (
	"flag"

	"github.com/ballastdb/ballast/rpc/embed"
)

// defineBuildFlags defines the flags of special builds: a normal build has none (see
// build_chaos.go), so --chaos-power-loss and BALLAST_CANARY do not exist in a release.
func defineBuildFlags(*flag.FlagSet) func(*embed.Config) error { return nil }
