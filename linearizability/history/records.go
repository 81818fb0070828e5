package history

// LeaseExpiry records that the cluster revoked a lease because it expired (no client issued
// it: its client is always ClusterClient).
type LeaseExpiry struct {
	// Client is always ClusterClient ("cluster").
	Client string `json:"client" history:"required"`
	// LeaseID is the expired lease.
	LeaseID int64 `json:"lease" history:"required"`
	// Revision is the store's revision once the revoke applied (it deleted the lease's keys
	// in that one revision; when the lease had no keys, the revision did not change and this
	// is the revision it applied at).
	Revision int64 `json:"revision" history:"required"`
	// TimeNs is when the revoke happened: the simulator records the apply time; a chaos run
	// the first time a watcher saw the deletions (a bound from above).
	TimeNs int64 `json:"time_ns" history:"required"`
	// Line is the record's line in the file it was read from. Not part of the format.
	Line int `json:"-"`
}

// Fault records one injected fault, so reports can draw it.
type Fault struct {
	// Kind is the fault's kind, free text: "kill", "pause", "partition", "latency",
	// "disk", "clock_skew", ...
	Kind string `json:"fault" history:"required"`
	// Members are the names of the members it hit (see Header.Members).
	Members []string `json:"members,omitempty"`
	StartNs int64    `json:"start_ns" history:"required"`
	// EndNs is when the fault ended; nil when it lasted to the end of the run.
	EndNs *int64 `json:"end_ns,omitempty"`
	// Detail is free text for the report ("m1,m2 | m3", "+200ms").
	Detail string `json:"detail,omitempty"`
	// Line is the record's line in the file it was read from. Not part of the format.
	Line int `json:"-"`
}

func (x LeaseExpiry) MarshalJSON() ([]byte, error)     { return encodeObject("", &x) }
func (x *LeaseExpiry) UnmarshalJSON(data []byte) error { return decodeObject(data, x, true) }
func (x Fault) MarshalJSON() ([]byte, error)           { return encodeObject("", &x) }
func (x *Fault) UnmarshalJSON(data []byte) error       { return decodeObject(data, x, true) }

// History is one run's whole record.
type History struct {
	Header        Header
	Operations    []Operation
	Watches       []Watch
	LeaseExpiries []LeaseExpiry
	Faults        []Fault
}
