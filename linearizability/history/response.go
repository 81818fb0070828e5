package history

// Response is the answer to a Request: the field of the same kind as the request is set.
// Header is set on top-level responses; responses inside a txn's Responses carry no header
// of their own (the txn's header applies).
type Response struct {
	Header         ResponseHeader          `json:"header,omitempty"`
	Put            *PutResponse            `json:"put,omitempty"`
	Range          *RangeResponse          `json:"range,omitempty"`
	DeleteRange    *DeleteRangeResponse    `json:"delete_range,omitempty"`
	Txn            *TxnResponse            `json:"txn,omitempty"`
	LeaseGrant     *LeaseGrantResponse     `json:"lease_grant,omitempty"`
	LeaseRevoke    *LeaseRevokeResponse    `json:"lease_revoke,omitempty"`
	LeaseKeepAlive *LeaseKeepAliveResponse `json:"lease_keep_alive,omitempty"`
	Compact        *CompactResponse        `json:"compact,omitempty"`
	Auth           *AuthResponse           `json:"auth,omitempty"`
}

// ResponseHeader is the part of etcd's ResponseHeader a checker uses.
type ResponseHeader struct {
	// Revision is the store's revision when the request was served (after it, for writes).
	Revision int64 `json:"revision"`
	// MemberID is the id of the member that answered, 0 when unknown.
	MemberID uint64 `json:"member_id,omitempty"`
}

// KeyValue is etcd's mvccpb.KeyValue.
type KeyValue struct {
	Key            Bytes `json:"key" history:"required"`
	Value          Bytes `json:"value,omitempty"`
	CreateRevision int64 `json:"create_revision"`
	ModRevision    int64 `json:"mod_revision"`
	Version        int64 `json:"version"`
	Lease          int64 `json:"lease,omitempty"`
}

// PutResponse is etcd's PutResponse.
type PutResponse struct {
	// PrevKV is the key's previous value when the request asked for it and the key existed.
	PrevKV *KeyValue `json:"prev_kv,omitempty"`
}

// RangeResponse is etcd's RangeResponse.
type RangeResponse struct {
	KVs []KeyValue `json:"kvs,omitempty"`
	// Count is the number of keys in the range (ignoring Limit).
	Count int64 `json:"count"`
	// More is set when Limit cut the result short.
	More bool `json:"more,omitempty"`
}

// DeleteRangeResponse is etcd's DeleteRangeResponse.
type DeleteRangeResponse struct {
	Deleted int64      `json:"deleted"`
	PrevKVs []KeyValue `json:"prev_kvs,omitempty"`
}

// TxnResponse is etcd's TxnResponse: Responses answer the branch that ran, in order.
type TxnResponse struct {
	Succeeded bool       `json:"succeeded"`
	Responses []Response `json:"responses,omitempty"`
}

// LeaseGrantResponse is etcd's LeaseGrantResponse.
type LeaseGrantResponse struct {
	ID         int64 `json:"id" history:"required"`
	TTLSeconds int64 `json:"ttl_seconds"`
}

// LeaseRevokeResponse is etcd's LeaseRevokeResponse (only its header matters).
type LeaseRevokeResponse struct{}

// CompactResponse is etcd's CompactionResponse (only its header matters).
type CompactResponse struct{}

// LeaseKeepAliveResponse is etcd's LeaseKeepAliveResponse. TTLSeconds 0 means the lease was
// not found (expired or revoked): etcd answers a keep-alive of an unknown lease that way
// rather than with an error.
type LeaseKeepAliveResponse struct {
	ID         int64 `json:"id" history:"required"`
	TTLSeconds int64 `json:"ttl_seconds"`
}

func (x Response) MarshalJSON() ([]byte, error)                { return encodeObject("", &x) }
func (x *Response) UnmarshalJSON(data []byte) error            { return decodeObject(data, x, false) }
func (x ResponseHeader) MarshalJSON() ([]byte, error)          { return encodeObject("", &x) }
func (x *ResponseHeader) UnmarshalJSON(data []byte) error      { return decodeObject(data, x, false) }
func (x KeyValue) MarshalJSON() ([]byte, error)                { return encodeObject("", &x) }
func (x *KeyValue) UnmarshalJSON(data []byte) error            { return decodeObject(data, x, false) }
func (x PutResponse) MarshalJSON() ([]byte, error)             { return encodeObject("", &x) }
func (x *PutResponse) UnmarshalJSON(data []byte) error         { return decodeObject(data, x, false) }
func (x RangeResponse) MarshalJSON() ([]byte, error)           { return encodeObject("", &x) }
func (x *RangeResponse) UnmarshalJSON(data []byte) error       { return decodeObject(data, x, false) }
func (x DeleteRangeResponse) MarshalJSON() ([]byte, error)     { return encodeObject("", &x) }
func (x *DeleteRangeResponse) UnmarshalJSON(data []byte) error { return decodeObject(data, x, false) }
func (x TxnResponse) MarshalJSON() ([]byte, error)             { return encodeObject("", &x) }
func (x *TxnResponse) UnmarshalJSON(data []byte) error         { return decodeObject(data, x, false) }
func (x LeaseGrantResponse) MarshalJSON() ([]byte, error)      { return encodeObject("", &x) }
func (x *LeaseGrantResponse) UnmarshalJSON(data []byte) error  { return decodeObject(data, x, false) }
func (x LeaseRevokeResponse) MarshalJSON() ([]byte, error)     { return encodeObject("", &x) }
func (x *LeaseRevokeResponse) UnmarshalJSON(data []byte) error { return decodeObject(data, x, false) }
func (x CompactResponse) MarshalJSON() ([]byte, error)         { return encodeObject("", &x) }
func (x *CompactResponse) UnmarshalJSON(data []byte) error     { return decodeObject(data, x, false) }
func (x LeaseKeepAliveResponse) MarshalJSON() ([]byte, error)  { return encodeObject("", &x) }
func (x *LeaseKeepAliveResponse) UnmarshalJSON(data []byte) error {
	return decodeObject(data, x, false)
}

// Kind returns the kind of the one response field that is set, or "" when none or several.
func (r Response) Kind() RequestKind {
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
