//go:build !linux

package watch

import "time"

// threadCPU is not measured off Linux; the CPU metrics then read 0.
func threadCPU() time.Duration { return 0 }

func lockThread() func() { return func() {} }
