// Package history is Ballast's history format: the one seam between every run that
// records what clients saw (the simulator, Docker chaos runs, any etcd cluster) and the
// checkers in package linearizability. The format is JSON lines, documented with a complete
// example in linearizability/FORMAT.md.
//
// The types, one per record of the format:
//
//   - History: a whole run: Header, Operations, Watches, LeaseExpiries, Faults.
//   - Header (first line): Version (FormatVersion), ClusterSize, Members, Scenario, Seed,
//     Clock (ClockVirtual | ClockWall), ClockErrorNs.
//   - Operation: Client, CallNs, ReturnNs (*int64, nil = unknown outcome), User and
//     AuthRevision (the request's credentials), Request, and Response or Error; Outcome()
//     gives OutcomeOK, OutcomeFailed or OutcomeUnknown.
//   - Request: one of Put (PutRequest), Range (RangeRequest), DeleteRange
//     (DeleteRangeRequest), Txn (TxnRequest with Compare, Success, Failure: []Request,
//     nested txns allowed), LeaseGrant, LeaseRevoke, LeaseKeepAlive, Compact (...Request),
//     Auth (AuthRequest: Action AuthUserAdd|...|AuthEnable|AuthDisable, User, Role, Key,
//     RangeEnd, Perm PermRead|PermWrite|PermReadWrite). Kind() returns a RequestKind
//     (KindPut, KindRange, ..., KindAuth).
//   - Compare: Key, RangeEnd, Target (TargetValue|TargetVersion|TargetCreate|TargetMod|
//     TargetLease), Result (ResultEqual|ResultNotEqual|ResultLess|ResultGreater) and the
//     operand field of the target: Value, Version, CreateRevision, ModRevision, Lease.
//   - Response: Header (ResponseHeader: Revision, MemberID) and one of Put (PutResponse:
//     PrevKV), Range (RangeResponse: KVs, Count, More), DeleteRange (DeleteRangeResponse:
//     Deleted, PrevKVs), Txn (TxnResponse: Succeeded, Responses), LeaseGrant / LeaseKeepAlive
//     (ID, TTLSeconds), LeaseRevoke, Compact, Auth (AuthResponse: AuthRevision). KeyValue:
//     Key, Value, CreateRevision, ModRevision, Version, Lease.
//   - Error: Message and Class (ErrorDefinite: proves the request did not apply;
//     ErrorIndeterminate: outcome unknown). Classify(errText) maps etcd's exact texts.
//   - Watch: ID (stable across resumes), Client, Request (WatchRequest: Key, RangeEnd,
//     StartRevision, PrevKV, Filters, ProgressNotify) and Streams ([]WatchStream: the
//     creation then each resume, with TimeNs, StartRevision and Responses). WatchResponse:
//     TimeNs (arrival), Revision, MemberID, Created, Events ([]Event: Type EventPut|
//     EventDelete, KV, PrevKV), ProgressNotify, CompactRevision, Canceled, CancelReason.
//   - LeaseExpiry: a record of the pseudo-client ClusterClient ("cluster"): LeaseID,
//     Revision at which the revoke applied, TimeNs.
//   - Fault: Kind, Members (names), StartNs, EndNs (*int64, nil = to the end), Detail.
//   - Bytes: keys and values. In a file a Bytes field "key" is "key": "text" when valid
//     UTF-8, else "key_b64": "base64"; the reader accepts either, never both.
//
// Reading and writing: Read(io.Reader) (*History, error) rejects a malformed file with the
// line number and the reason (*ReadError); (*History).WriteTo(io.Writer) writes one. Recording:
// Recorder, safe for concurrent use, is what simulated and real clients call while a run goes:
// Call (CallAs for a request with credentials)/Return/Fail/Unknown for operations, Watch/Respond/Resume for watchers, LeaseExpired,
// Fault, and WriteTo.
//
// Times are integers, nanoseconds from the run's start. Intervals are closed: an operation
// may have taken effect at any instant t with CallNs <= t <= ReturnNs.
//
// Imports: only the standard library; nothing of the store (package linearizability and the
// tools that record runs import this package, never the reverse).
//
// Invariants a History read by Read satisfies: the header's version is FormatVersion; every
// operation has exactly one request kind, ReturnNs >= CallNs when set, exactly one of
// Response/Error when ReturnNs is set and neither when not, and a response of its request's
// kind; watch responses of a watch arrive in non-decreasing time; lease expiries belong to
// "cluster".
package history
