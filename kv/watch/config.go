package watch

// Config bounds what a hub holds and hands out. Zero fields take the defaults below.
type Config struct {
	// MaxBufferedEventsPerWatcher bounds the live events a synced watcher holds that its
	// stream has not pulled yet. A revision that would cross it is not buffered: the watcher
	// becomes unsynced at that revision and catches up from storage when its stream pulls.
	MaxBufferedEventsPerWatcher int
	// MaxBufferedBytesPerWatcher bounds the same buffer by the key and value bytes it refers
	// to (events are shared between watchers, so this counts what the watcher keeps alive).
	MaxBufferedBytesPerWatcher int
	// MaxEventsPerResponse bounds the events of one response softly: a response stops
	// before a revision that would cross it, except that one revision always goes whole.
	// It is also the limit of one catch-up read.
	MaxEventsPerResponse int
	// MaxResponseBytes is the size above which a response is split into fragments, for
	// watchers that asked for fragment (etcd splits at --max-request-bytes plus 512 KiB,
	// kv/node passes that); it also bounds a response softly, as MaxEventsPerResponse does.
	MaxResponseBytes int
	// MaxRevisionsPerRead bounds the revisions one catch-up read scans, so a read for a
	// narrow range over a long history does bounded work.
	MaxRevisionsPerRead int
}

// Defaults. The buffer bounds are per watcher; a stalled watcher holds at most these.
const (
	DefaultMaxBufferedEventsPerWatcher = 1024
	DefaultMaxBufferedBytesPerWatcher  = 1 << 20
	DefaultMaxEventsPerResponse        = 1000
	DefaultMaxResponseBytes            = 1536 * 1024
	DefaultMaxRevisionsPerRead         = 10000
)

func (c Config) withDefaults() Config {
	if c.MaxBufferedEventsPerWatcher <= 0 {
		c.MaxBufferedEventsPerWatcher = DefaultMaxBufferedEventsPerWatcher
	}
	if c.MaxBufferedBytesPerWatcher <= 0 {
		c.MaxBufferedBytesPerWatcher = DefaultMaxBufferedBytesPerWatcher
	}
	if c.MaxEventsPerResponse <= 0 {
		c.MaxEventsPerResponse = DefaultMaxEventsPerResponse
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxRevisionsPerRead <= 0 {
		c.MaxRevisionsPerRead = DefaultMaxRevisionsPerRead
	}
	return c
}
