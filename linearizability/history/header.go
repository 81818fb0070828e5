package history

// FormatVersion is the version of the history format this package reads and writes. The
// reader rejects any other version.
const FormatVersion = 1

// ClockKind says what a history's times measure.
type ClockKind string

const (
	// ClockVirtual is the simulator's exact virtual time: every time is exact.
	ClockVirtual ClockKind = "virtual"
	// ClockWall is the recording host's monotonic clock: times are off by up to the
	// header's ClockErrorNs.
	ClockWall ClockKind = "wall"
)

// Header is the first line of every history file.
type Header struct {
	// Version is the format version; always FormatVersion when written by this package.
	Version int `json:"version" history:"required"`
	// ClusterSize is the number of members of the cluster the history was recorded on.
	ClusterSize int `json:"cluster_size" history:"required"`
	// Members are the members' names (for faults), in any order; empty when unknown,
	// else exactly ClusterSize distinct names.
	Members []string `json:"members,omitempty"`
	// Scenario names the workload and fault schedule; free text.
	Scenario string `json:"scenario,omitempty"`
	// Seed is the run's seed (0 for runs without one).
	Seed int64 `json:"seed"`
	// Clock is "virtual" or "wall".
	Clock ClockKind `json:"clock" history:"required"`
	// ClockErrorNs bounds how far any recorded time may be from the true time, in ns
	// (0 for the simulator).
	ClockErrorNs int64 `json:"clock_error_ns"`
}

func (x Header) MarshalJSON() ([]byte, error)     { return encodeObject("", &x) }
func (x *Header) UnmarshalJSON(data []byte) error { return decodeObject(data, x, false) }
