package history

// ClusterClient is the pseudo-client of records no client issued: lease expiries.
const ClusterClient = "cluster"

// Operation is one client request and what became of it.
type Operation struct {
	// Client identifies the client (one client issues one request at a time).
	Client string `json:"client" history:"required"`
	// CallNs is when the client sent the request, ns from the run's start.
	CallNs int64 `json:"call_ns" history:"required"`
	// ReturnNs is when the client got the response or error; nil when it never did (the
	// outcome is unknown: the request may have taken effect at any time after CallNs, or
	// never). When ReturnNs is nil, Response and Error are nil too.
	ReturnNs *int64 `json:"return_ns,omitempty"`
	// User is the user the request was made as (its credentials: a token's or a client
	// certificate's user); "" when none.
	User string `json:"user,omitempty"`
	// AuthRevision is the auth revision the request's credentials carried (etcd's
	// RequestHeader.AuthRevision): the auth store had reached it before the call. 0: none.
	AuthRevision int64 `json:"auth_revision,omitempty"`
	// Request is what the client asked.
	Request Request `json:"request" history:"required"`
	// Response is set when the request succeeded.
	Response *Response `json:"response,omitempty"`
	// Error is set when the request failed; an indeterminate error leaves the outcome
	// unknown, like a nil ReturnNs.
	Error *Error `json:"error,omitempty"`
	// Line is the 1-based line of the record in the file it was read from (0 when the
	// operation was not read from a file). Not part of the format.
	Line int `json:"-"`
}

func (x Operation) MarshalJSON() ([]byte, error)     { return encodeObject("", &x) }
func (x *Operation) UnmarshalJSON(data []byte) error { return decodeObject(data, x, true) }

// Outcome is what is known about whether an operation took effect.
type Outcome int

const (
	// OutcomeOK: the request succeeded; Response says how.
	OutcomeOK Outcome = iota
	// OutcomeFailed: the request got a definite error and did not take effect.
	OutcomeFailed
	// OutcomeUnknown: no response, or an indeterminate error: it may have taken effect at
	// any time after CallNs (even after ReturnNs), or never.
	OutcomeUnknown
)

func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeFailed:
		return "failed"
	case OutcomeUnknown:
		return "unknown"
	default:
		return "invalid"
	}
}

// Outcome classifies the operation.
func (op *Operation) Outcome() Outcome {
	switch {
	case op.ReturnNs == nil:
		return OutcomeUnknown
	case op.Error != nil && op.Error.Class == ErrorDefinite:
		return OutcomeFailed
	case op.Error != nil:
		return OutcomeUnknown
	default:
		return OutcomeOK
	}
}
