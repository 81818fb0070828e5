package history

// WatchFilter is one of etcd's watch filters.
type WatchFilter string

const (
	FilterNoPut    WatchFilter = "noput"
	FilterNoDelete WatchFilter = "nodelete"
)

// EventType is a watch event's type.
type EventType string

const (
	EventPut    EventType = "PUT"
	EventDelete EventType = "DELETE"
)

// WatchRequest is etcd's WatchCreateRequest.
type WatchRequest struct {
	Key      Bytes `json:"key" history:"required"`
	RangeEnd Bytes `json:"range_end,omitempty"`
	// StartRevision is the first revision to deliver (0: from the current revision + 1).
	StartRevision  int64         `json:"start_revision,omitempty"`
	PrevKV         bool          `json:"prev_kv,omitempty"`
	Filters        []WatchFilter `json:"filters,omitempty"`
	ProgressNotify bool          `json:"progress_notify,omitempty"`
}

// Event is one watch event.
type Event struct {
	Type EventType `json:"type" history:"required"`
	// KV is the key-value after the event; for a DELETE, only Key and ModRevision (the
	// revision of the delete) are set, as in etcd.
	KV KeyValue `json:"kv" history:"required"`
	// PrevKV is the key-value before the event, when the watch asked for it and the key
	// existed.
	PrevKV *KeyValue `json:"prev_kv,omitempty"`
}

// WatchResponse is one response a watcher received, in arrival order.
type WatchResponse struct {
	// TimeNs is when the response arrived, ns from the run's start.
	TimeNs int64 `json:"time_ns" history:"required"`
	// Revision is the response header's revision.
	Revision int64  `json:"revision"`
	MemberID uint64 `json:"member_id,omitempty"`
	// Created marks the response that confirmed the (re)creation of the watch.
	Created bool    `json:"created,omitempty"`
	Events  []Event `json:"events,omitempty"`
	// ProgressNotify marks a progress notification: no events, and the claim that every
	// event up to Revision has been delivered.
	ProgressNotify bool `json:"progress_notify,omitempty"`
	// CompactRevision is set when the watch was canceled because its start revision had been
	// compacted: the earliest revision still available.
	CompactRevision int64  `json:"compact_revision,omitempty"`
	Canceled        bool   `json:"canceled,omitempty"`
	CancelReason    string `json:"cancel_reason,omitempty"`
}

// WatchStream is one server-side watch of a Watch: the original creation or a resume.
type WatchStream struct {
	// TimeNs is when the client sent the (re)create request.
	TimeNs int64
	// StartRevision is the start revision the client asked for (0: current + 1).
	StartRevision int64
	// Responses are the responses of this stream, in arrival order.
	Responses []WatchResponse
	// Line is the line of the watch or watch_resume record (0 when not read from a file).
	Line int
}

// Watch is one client watcher, with a stable id across resumes (a client that loses its
// stream re-creates the watch, normally from the last revision it saw + 1).
type Watch struct {
	ID     string
	Client string
	// Request is the original create request; each resume repeats it with another start
	// revision.
	Request WatchRequest
	// Streams[0] is the original creation; each later one a resume.
	Streams []WatchStream
}

func (x WatchRequest) MarshalJSON() ([]byte, error)      { return encodeObject("", &x) }
func (x *WatchRequest) UnmarshalJSON(data []byte) error  { return decodeObject(data, x, false) }
func (x Event) MarshalJSON() ([]byte, error)             { return encodeObject("", &x) }
func (x *Event) UnmarshalJSON(data []byte) error         { return decodeObject(data, x, false) }
func (x WatchResponse) MarshalJSON() ([]byte, error)     { return encodeObject("", &x) }
func (x *WatchResponse) UnmarshalJSON(data []byte) error { return decodeObject(data, x, false) }
