package embed

import (
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// noSyncFS is --unsafe-no-fsync: the member's files are written as usual but never synced
// (File.Sync, SyncData and SyncTo return at once), as etcd's flag disables fsync. A power
// loss then loses acknowledged writes: etcd's "unsafe, will cause data loss". skipped counts
// the syncs not done (ballast_disk_fsyncs_skipped_total).
type noSyncFS struct {
	vfs.FS
	skipped *atomic.Uint64
}

func (fs noSyncFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return noSyncFile{File: f, skipped: fs.skipped}, nil
}

func (fs noSyncFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.Create(name, category))
}

func (fs noSyncFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(fs.FS.OpenReadWrite(name, category, opts...))
}

func (fs noSyncFS) OpenDir(name string) (vfs.File, error) { return fs.wrap(fs.FS.OpenDir(name)) }

func (fs noSyncFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.ReuseForWrite(oldname, newname, category))
}

func (fs noSyncFS) Unwrap() vfs.FS { return fs.FS }

type noSyncFile struct {
	vfs.File
	skipped *atomic.Uint64
}

func (f noSyncFile) Sync() error     { f.skipped.Add(1); return nil }
func (f noSyncFile) SyncData() error { f.skipped.Add(1); return nil }
func (f noSyncFile) SyncTo(int64) (bool, error) {
	f.skipped.Add(1)
	return true, nil
}
