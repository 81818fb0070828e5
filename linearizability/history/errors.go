package history

import "strings"

// ErrorClass says what an error proves about the request that got it.
type ErrorClass string

const (
	// ErrorDefinite: the error proves the request did not take effect (etcd rejected it
	// before or instead of applying it). A checker may treat the request as never applied.
	ErrorDefinite ErrorClass = "definite"
	// ErrorIndeterminate: the request may or may not have taken effect, possibly after the
	// error was returned (a timeout, a lost connection, a leader change). A checker must treat
	// it like an unknown outcome.
	ErrorIndeterminate ErrorClass = "indeterminate"
)

// Error is the error a request got instead of a response.
type Error struct {
	// Message is the error's text, as the client saw it (etcd's exact text where etcd
	// produced it, possibly wrapped, e.g. "rpc error: code = ... desc = etcdserver: ...").
	Message string `json:"message" history:"required"`
	// Class is Classify(Message) unless the recorder knew better. The reader fills it in
	// with Classify(Message) when a file omits it.
	Class ErrorClass `json:"class,omitempty"`
}

func (x Error) MarshalJSON() ([]byte, error)     { return encodeObject("", &x) }
func (x *Error) UnmarshalJSON(data []byte) error { return decodeObject(data, x, false) }

// definiteErrorTexts are etcd's error texts (api/v3rpc/rpctypes) that the server returns only
// when it rejected a request without applying it: at validation, before proposing it to raft,
// or when applying it failed as a whole (a txn is applied atomically or not at all).
var definiteErrorTexts = []string{
	"etcdserver: request is too large",
	"etcdserver: too many operations in txn request",
	"etcdserver: duplicate key given in txn request",
	"etcdserver: requested lease not found",
	"etcdserver: lease already exists",
	"etcdserver: too large lease TTL",
	"etcdserver: mvcc: required revision has been compacted",
	"etcdserver: mvcc: required revision is a future revision",
	"etcdserver: mvcc: database space exceeded",
	"etcdserver: permission denied",
	"etcdserver: key is not provided",
	"etcdserver: value is provided",
	"etcdserver: lease is provided",
	"etcdserver: invalid sort option",
	"etcdserver: too many requests",
	"etcdserver: invalid auth token",
	"etcdserver: user name is empty",
	"etcdserver: authentication failed, invalid user ID or password",
	// auth: a refusal at apply time changes nothing (etcd's auth store and apply/auth.go)
	"etcdserver: revision of auth store is old",
	"etcdserver: root user does not exist",
	"etcdserver: root user does not have root role",
	"etcdserver: user name already exists",
	"etcdserver: user name not found",
	"etcdserver: role name already exists",
	"etcdserver: role name not found",
	"etcdserver: role name is empty",
	"etcdserver: permission not given",
	"etcdserver: role is not granted to the user",
	"etcdserver: permission is not granted to the role",
	"etcdserver: authentication is not enabled",
	"etcdserver: invalid auth management",
}

// Classify returns the class of an error from its text. Only etcd's texts that prove the
// request did not take effect are definite (request too large, too many operations, duplicate
// key, lease not found, lease exists, TTL too large, compacted, future revision, no space,
// permission denied, empty key, value/lease provided with ignore_value/ignore_lease, invalid
// sort, too many requests, auth failures and refusals: stale auth revision, unknown or
// existing users and roles, permissions not granted, invalid auth management); everything else — etcd's timeouts ("etcdserver:
// request timed out..."), "etcdserver: leader changed", "etcdserver: no leader",
// "etcdserver: not leader", "etcdserver: server stopped", connection errors, context
// deadlines, and any text this function does not know — is indeterminate, the safe default.
// The etcd text may appear anywhere in errText (gRPC wraps it as "rpc error: code = ... desc =
// etcdserver: ...").
func Classify(errText string) ErrorClass {
	for _, text := range definiteErrorTexts {
		if strings.Contains(errText, text) {
			return ErrorDefinite
		}
	}
	return ErrorIndeterminate
}
