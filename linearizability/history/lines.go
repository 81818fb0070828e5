package history

// The record kinds of a history file (the "kind" field of every line).
const (
	RecordHeader        = "header"
	RecordOperation     = "op"
	RecordWatch         = "watch"
	RecordWatchResponse = "watch_response"
	RecordWatchResume   = "watch_resume"
	RecordLeaseExpiry   = "lease_expiry"
	RecordFault         = "fault"
)

// watchLine creates a watch.
type watchLine struct {
	ID      string       `json:"watch" history:"required"`
	Client  string       `json:"client" history:"required"`
	TimeNs  int64        `json:"time_ns" history:"required"`
	Request WatchRequest `json:"request" history:"required"`
}

// watchResponseLine is one response of a watch's current stream.
type watchResponseLine struct {
	ID       string        `json:"watch" history:"required"`
	Response WatchResponse `json:"response" history:"required"`
}

// watchResumeLine starts a new stream of a watch.
type watchResumeLine struct {
	ID            string `json:"watch" history:"required"`
	TimeNs        int64  `json:"time_ns" history:"required"`
	StartRevision int64  `json:"start_revision"`
}
