package embed

import "syscall"

// mlockAll is --memory-mlock: every page the process has mapped and will map stays in RAM
// (mlockall(MCL_CURRENT|MCL_FUTURE)). etcd locks its bbolt file's mapping; Pebble maps no
// file, its pages are the process's own (the block cache, the memtables), so Ballast locks
// them all.
func mlockAll() error {
	return syscall.Mlockall(syscall.MCL_CURRENT | syscall.MCL_FUTURE)
}
