package history

// Request is one client request: exactly one of its fields is set. Inside a txn's then/else
// lists only Put, Range, DeleteRange and Txn may be set (as in etcd's RequestOp).
type Request struct {
	Put            *PutRequest            `json:"put,omitempty"`
	Range          *RangeRequest          `json:"range,omitempty"`
	DeleteRange    *DeleteRangeRequest    `json:"delete_range,omitempty"`
	Txn            *TxnRequest            `json:"txn,omitempty"`
	LeaseGrant     *LeaseGrantRequest     `json:"lease_grant,omitempty"`
	LeaseRevoke    *LeaseRevokeRequest    `json:"lease_revoke,omitempty"`
	LeaseKeepAlive *LeaseKeepAliveRequest `json:"lease_keep_alive,omitempty"`
	Compact        *CompactRequest        `json:"compact,omitempty"`
	Auth           *AuthRequest           `json:"auth,omitempty"`
}

// RequestKind names the kind of a request or response, as its JSON field is named.
type RequestKind string

const (
	KindPut            RequestKind = "put"
	KindRange          RequestKind = "range"
	KindDeleteRange    RequestKind = "delete_range"
	KindTxn            RequestKind = "txn"
	KindLeaseGrant     RequestKind = "lease_grant"
	KindLeaseRevoke    RequestKind = "lease_revoke"
	KindLeaseKeepAlive RequestKind = "lease_keep_alive"
	KindCompact        RequestKind = "compact"
	KindAuth           RequestKind = "auth"
)

// PutRequest is etcd's PutRequest.
type PutRequest struct {
	Key   Bytes `json:"key" history:"required"`
	Value Bytes `json:"value"`
	// Lease attaches the key to this lease (0: none).
	Lease int64 `json:"lease,omitempty"`
	// PrevKV asks for the previous key-value in the response.
	PrevKV      bool `json:"prev_kv,omitempty"`
	IgnoreValue bool `json:"ignore_value,omitempty"`
	IgnoreLease bool `json:"ignore_lease,omitempty"`
}

// RangeRequest is etcd's RangeRequest (a get is a range without RangeEnd).
type RangeRequest struct {
	Key Bytes `json:"key" history:"required"`
	// RangeEnd: empty = the single key Key; "\x00" = every key >= Key; else [Key, RangeEnd).
	RangeEnd Bytes `json:"range_end,omitempty"`
	// Limit caps the number of keys returned (0: no limit).
	Limit int64 `json:"limit,omitempty"`
	// Revision reads at this past revision (0: the latest).
	Revision     int64 `json:"revision,omitempty"`
	Serializable bool  `json:"serializable,omitempty"`
	CountOnly    bool  `json:"count_only,omitempty"`
	KeysOnly     bool  `json:"keys_only,omitempty"`
}

// DeleteRangeRequest is etcd's DeleteRangeRequest.
type DeleteRangeRequest struct {
	Key      Bytes `json:"key" history:"required"`
	RangeEnd Bytes `json:"range_end,omitempty"`
	PrevKV   bool  `json:"prev_kv,omitempty"`
}

// TxnRequest is etcd's TxnRequest: if every compare holds, Success runs, else Failure.
type TxnRequest struct {
	Compare []Compare `json:"compare,omitempty"`
	Success []Request `json:"success,omitempty"`
	Failure []Request `json:"failure,omitempty"`
}

// CompareTarget is what a compare looks at.
type CompareTarget string

const (
	TargetValue   CompareTarget = "value"
	TargetVersion CompareTarget = "version"
	TargetCreate  CompareTarget = "create"
	TargetMod     CompareTarget = "mod"
	TargetLease   CompareTarget = "lease"
)

// CompareResult is a compare's relation: the key's target <result> the given operand.
type CompareResult string

const (
	ResultEqual    CompareResult = "="
	ResultNotEqual CompareResult = "!="
	ResultLess     CompareResult = "<"
	ResultGreater  CompareResult = ">"
)

// Compare is etcd's Compare. The operand is the field named by Target: Value for "value",
// Version for "version", CreateRevision for "create", ModRevision for "mod", Lease for
// "lease"; the others are zero. An absent key has version, create and mod revision and lease 0
// and fails every value compare (as in etcd).
type Compare struct {
	Key            Bytes         `json:"key" history:"required"`
	RangeEnd       Bytes         `json:"range_end,omitempty"`
	Target         CompareTarget `json:"target" history:"required"`
	Result         CompareResult `json:"result" history:"required"`
	Value          Bytes         `json:"value,omitempty"`
	Version        int64         `json:"version,omitempty"`
	CreateRevision int64         `json:"create_revision,omitempty"`
	ModRevision    int64         `json:"mod_revision,omitempty"`
	Lease          int64         `json:"lease,omitempty"`
}

// LeaseGrantRequest is etcd's LeaseGrantRequest.
type LeaseGrantRequest struct {
	TTLSeconds int64 `json:"ttl_seconds" history:"required"`
	// ID is the requested lease id (0: the server picks one).
	ID int64 `json:"id,omitempty"`
}

// LeaseRevokeRequest is etcd's LeaseRevokeRequest.
type LeaseRevokeRequest struct {
	ID int64 `json:"id" history:"required"`
}

// CompactRequest is etcd's CompactionRequest: the store may discard every version a read at a
// revision below Revision would need; reads there fail with etcd's compacted error.
type CompactRequest struct {
	Revision int64 `json:"revision" history:"required"`
	// Physical asks the answer to wait until the versions are gone from the store.
	Physical bool `json:"physical,omitempty"`
}

// LeaseKeepAliveRequest is one keep-alive of a lease (one request on etcd's keep-alive
// stream, or clientv3's KeepAliveOnce).
type LeaseKeepAliveRequest struct {
	ID int64 `json:"id" history:"required"`
}

func (x Request) MarshalJSON() ([]byte, error)                   { return encodeObject("", &x) }
func (x *Request) UnmarshalJSON(data []byte) error               { return decodeObject(data, x, false) }
func (x PutRequest) MarshalJSON() ([]byte, error)                { return encodeObject("", &x) }
func (x *PutRequest) UnmarshalJSON(data []byte) error            { return decodeObject(data, x, false) }
func (x RangeRequest) MarshalJSON() ([]byte, error)              { return encodeObject("", &x) }
func (x *RangeRequest) UnmarshalJSON(data []byte) error          { return decodeObject(data, x, false) }
func (x DeleteRangeRequest) MarshalJSON() ([]byte, error)        { return encodeObject("", &x) }
func (x *DeleteRangeRequest) UnmarshalJSON(data []byte) error    { return decodeObject(data, x, false) }
func (x TxnRequest) MarshalJSON() ([]byte, error)                { return encodeObject("", &x) }
func (x *TxnRequest) UnmarshalJSON(data []byte) error            { return decodeObject(data, x, false) }
func (x Compare) MarshalJSON() ([]byte, error)                   { return encodeObject("", &x) }
func (x *Compare) UnmarshalJSON(data []byte) error               { return decodeObject(data, x, false) }
func (x LeaseGrantRequest) MarshalJSON() ([]byte, error)         { return encodeObject("", &x) }
func (x *LeaseGrantRequest) UnmarshalJSON(data []byte) error     { return decodeObject(data, x, false) }
func (x LeaseRevokeRequest) MarshalJSON() ([]byte, error)        { return encodeObject("", &x) }
func (x *LeaseRevokeRequest) UnmarshalJSON(data []byte) error    { return decodeObject(data, x, false) }
func (x LeaseKeepAliveRequest) MarshalJSON() ([]byte, error)     { return encodeObject("", &x) }
func (x *LeaseKeepAliveRequest) UnmarshalJSON(data []byte) error { return decodeObject(data, x, false) }
func (x CompactRequest) MarshalJSON() ([]byte, error)            { return encodeObject("", &x) }
func (x *CompactRequest) UnmarshalJSON(data []byte) error        { return decodeObject(data, x, false) }

// Kind returns the kind of the one field that is set, or "" when none or several are set.
func (r Request) Kind() RequestKind {
	var kind RequestKind
	n := 0
	set := func(isSet bool, k RequestKind) {
		if isSet {
			n++
			kind = k
		}
	}
	set(r.Put != nil, KindPut)
	set(r.Range != nil, KindRange)
	set(r.DeleteRange != nil, KindDeleteRange)
	set(r.Txn != nil, KindTxn)
	set(r.LeaseGrant != nil, KindLeaseGrant)
	set(r.LeaseRevoke != nil, KindLeaseRevoke)
	set(r.LeaseKeepAlive != nil, KindLeaseKeepAlive)
	set(r.Compact != nil, KindCompact)
	set(r.Auth != nil, KindAuth)
	if n != 1 {
		return ""
	}
	return kind
}

// IsReadOnly reports whether the request can never change the store: a range, or a txn
// whose branches hold only ranges (recursively).
func (r Request) IsReadOnly() bool {
	switch {
	case r.Range != nil:
		return true
	case r.Txn != nil:
		for _, ops := range [][]Request{r.Txn.Success, r.Txn.Failure} {
			for _, op := range ops {
				if !op.IsReadOnly() {
					return false
				}
			}
		}
		return true
	default:
		return false
	}
}
