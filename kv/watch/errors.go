package watch

import "errors"

// The create and cancel errors carry etcd's text (server/storage/mvcc/watcher.go), because the
// gRPC layer forwards them as the CancelReason of a created-and-canceled response.
var (
	// ErrWatcherNotExist: a cancel named a watch ID the stream does not hold.
	ErrWatcherNotExist = errors.New("mvcc: watcher does not exist")
	// ErrEmptyWatcherRange: range_end is set, not "\x00", and not above key.
	ErrEmptyWatcherRange = errors.New("mvcc: watcher range is empty")
	// ErrWatcherDuplicateID: a client-chosen watch ID already in use on the stream.
	ErrWatcherDuplicateID = errors.New("mvcc: duplicate watch ID provided on the WatchStream")
	// ErrNegativeStartRevision: etcd refuses a negative start_revision with the compacted
	// error's gRPC text (rpctypes.ErrGRPCCompacted), so Ballast does the same.
	ErrNegativeStartRevision = errors.New("etcdserver: mvcc: required revision has been compacted")
	// ErrStreamClosed: a call on a stream after Close or after its hub was replaced.
	ErrStreamClosed = errors.New("watch: stream is closed")
)
