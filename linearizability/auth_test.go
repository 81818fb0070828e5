package linearizability

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability/history"
)

const (
	errDeniedText = "etcdserver: permission denied"
	errOldRevText = "etcdserver: revision of auth store is old"
)

func authReq(action history.AuthAction, user, role string) history.Request {
	return history.Request{Auth: &history.AuthRequest{Action: action, User: user, Role: role}}
}

func permReq(action history.AuthAction, perm history.PermType) history.Request {
	return history.Request{Auth: &history.AuthRequest{Action: action, Role: "flip", Key: []byte("k0"), RangeEnd: []byte("k4"), Perm: perm}}
}

func authOK(call, ret, authRev int64, req history.Request) history.Operation {
	return okAt("admin", call, ret, 1, req, history.Response{Auth: &history.AuthResponse{AuthRevision: authRev}})
}

// authSetup: root, then bob with role flip (readwrite on [k0, k4)) at revision 7, auth
// enabled within revision 7; every change acknowledged by t=100.
func authSetup() []history.Operation {
	return []history.Operation{
		authOK(1, 2, 2, authReq(history.AuthUserAdd, "root", "")),
		authOK(3, 4, 3, authReq(history.AuthUserGrantRole, "root", "root")),
		authOK(5, 6, 4, authReq(history.AuthUserAdd, "bob", "")),
		authOK(7, 8, 5, authReq(history.AuthRoleAdd, "", "flip")),
		authOK(9, 10, 6, permReq(history.AuthRoleGrantPermission, history.PermReadWrite)),
		authOK(11, 12, 7, authReq(history.AuthUserGrantRole, "bob", "flip")),
		authOK(13, 14, 7, authReq(history.AuthEnable, "", "")),
	}
}

// as makes o a request of user at auth revision rev.
func as(user string, rev int64, o history.Operation) history.Operation {
	o.User, o.AuthRevision = user, rev
	return o
}

func putK(key string) history.Request {
	return history.Request{Put: &history.PutRequest{Key: []byte(key), Value: []byte(key + "-v")}}
}

var putResp = history.Response{Put: &history.PutResponse{}}

// TestAuthValidator: requests judged against the permissions of their auth revision; each
// planted violation is found, and what some placement of unknown changes allows is not flagged.
func TestAuthValidator(t *testing.T) {
	revoke := authOK(200, 210, 8, permReq(history.AuthRoleRevokePermission, ""))
	cases := []struct {
		name string
		ops  []history.Operation
		want string // "" valid, else the violation's kind
	}{
		{name: "permitted put and a read outside the grant denied", ops: []history.Operation{
			as("bob", 7, okAt("c1", 100, 110, 2, putK("k1"), putResp)),
			as("bob", 7, failedAt("c1", 120, 130, putK("k5"), errDeniedText)),
			as("root", 7, okAt("c2", 100, 110, 3, putK("k5"), putResp)),
		}},
		{name: "revoked: denied after, stale refusal while it raced", ops: []history.Operation{
			revoke,
			as("bob", 7, failedAt("c1", 205, 215, putK("k1"), errOldRevText)),
			as("bob", 8, failedAt("c1", 220, 230, putK("k1"), errDeniedText)),
			as("bob", 7, okAt("c2", 195, 205, 2, putK("k2"), putResp)),
		}},
		{name: "planted: put succeeded after the revoke", want: "auth-unpermitted", ops: []history.Operation{
			revoke,
			as("bob", 8, okAt("c1", 220, 230, 2, putK("k1"), putResp)),
		}},
		{name: "planted: read outside the grant succeeded", want: "auth-unpermitted", ops: []history.Operation{
			as("bob", 7, okAt("c1", 100, 110, 1, history.Request{Range: &history.RangeRequest{Key: []byte("k0"), RangeEnd: []byte("k5")}}, rangeResp)),
		}},
		{name: "range inside the grant permitted", ops: []history.Operation{
			as("bob", 7, okAt("c1", 100, 110, 1, history.Request{Range: &history.RangeRequest{Key: []byte("k0"), RangeEnd: []byte("k4")}}, rangeResp)),
		}},
		{name: "planted: permitted put denied", want: "auth-wrongly-denied", ops: []history.Operation{
			as("bob", 7, failedAt("c1", 100, 110, putK("k1"), errDeniedText)),
		}},
		{name: "planted: success with credentials older than an acknowledged change", want: "auth-stale-credentials", ops: []history.Operation{
			revoke,
			as("bob", 7, okAt("c1", 220, 230, 2, putK("k1"), putResp)),
		}},
		{name: "serializable read with old credentials is not stale", ops: []history.Operation{
			revoke,
			as("bob", 7, okAt("c1", 220, 230, 1, history.Request{Range: &history.RangeRequest{Key: []byte("k1"), Serializable: true}}, rangeResp)),
		}},
		{name: "planted: stale refusal with no later change", want: "auth-stale-refusal", ops: []history.Operation{
			as("bob", 7, failedAt("c1", 100, 110, putK("k1"), errOldRevText)),
		}},
		{name: "unknown revoke placed in the only gap it fits", want: "auth-unpermitted", ops: []history.Operation{
			unknownAt("admin", 200, permReq(history.AuthRoleRevokePermission, "")),
			authOK(300, 310, 9, authReq(history.AuthUserAdd, "carol", "")),
			as("bob", 8, okAt("c1", 250, 260, 2, putK("k1"), putResp)),
		}},
		{name: "two unknown changes for one gap: uncertain", ops: []history.Operation{
			unknownAt("admin", 200, permReq(history.AuthRoleRevokePermission, "")),
			unknownAt("admin2", 201, authReq(history.AuthUserAdd, "dave", "")),
			authOK(300, 310, 9, authReq(history.AuthUserAdd, "carol", "")),
			as("bob", 8, okAt("c1", 250, 260, 2, putK("k1"), putResp)),
		}},
		{name: "unknown revoke may race a refusal as stale", ops: []history.Operation{
			unknownAt("admin", 200, permReq(history.AuthRoleRevokePermission, "")),
			as("bob", 7, failedAt("c1", 205, 215, putK("k1"), errOldRevText)),
		}},
		{name: "planted: two changes report one revision", want: "auth-revision-duplicate", ops: []history.Operation{
			revoke,
			authOK(300, 310, 8, authReq(history.AuthUserAdd, "carol", "")),
		}},
		{name: "planted: revision lower than an earlier acknowledged change's", want: "auth-revision-backwards", ops: []history.Operation{
			authOK(300, 310, 9, authReq(history.AuthUserAdd, "carol", "")),
			authOK(320, 330, 8, authReq(history.AuthUserAdd, "erin", "")),
		}},
		{name: "auth disabled: no denial allowed", want: "auth-wrongly-denied", ops: []history.Operation{
			authOK(200, 210, 8, authReq(history.AuthDisable, "", "")),
			as("bob", 8, failedAt("c1", 220, 230, putK("k9"), errDeniedText)),
		}},
		{name: "auth disabled: anything goes", ops: []history.Operation{
			authOK(200, 210, 8, authReq(history.AuthDisable, "", "")),
			as("bob", 8, okAt("c1", 220, 230, 2, putK("k9"), putResp)),
		}},
		{name: "role revoked from the user", want: "auth-unpermitted", ops: []history.Operation{
			authOK(200, 210, 8, authReq(history.AuthUserRevokeRole, "bob", "flip")),
			as("bob", 8, okAt("c1", 220, 230, 2, putK("k1"), putResp)),
		}},
		{name: "txn needs read on its compare and write on its put", want: "auth-unpermitted", ops: []history.Operation{
			as("bob", 7, okAt("c1", 100, 110, 2, history.Request{Txn: &history.TxnRequest{
				Compare: []history.Compare{{Key: []byte("k1"), Target: history.TargetVersion, Result: history.ResultEqual}},
				Failure: []history.Request{putK("k7")}}}, history.Response{Txn: &history.TxnResponse{Succeeded: true}})),
		}},
		{name: "requests without an auth revision are not judged", ops: []history.Operation{
			okAt("c1", 100, 110, 2, putK("k9"), putResp),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &history.History{Header: history.Header{Version: 1, ClusterSize: 1, Clock: history.ClockVirtual},
				Operations: append(authSetup(), tc.ops...)}
			vs, _ := validateAuth(h)
			if tc.want == "" {
				require.Empty(t, vs)
				return
			}
			require.NotEmpty(t, vs)
			require.Equal(t, tc.want, vs[0].Kind, "%s", vs[0].Message)
			require.Equal(t, CheckAuth, vs[0].Checker)
		})
	}
}

// TestAuthValidatorCheck: Check runs it, and a history without auth changes gets nothing.
func TestAuthValidatorCheck(t *testing.T) {
	h := &history.History{Header: history.Header{Version: 1, ClusterSize: 1, Clock: history.ClockVirtual},
		Operations: append(authSetup(), as("bob", 7, okAt("c1", 100, 110, 2, putK("k9"), putResp)))}
	res := Check(h, Options{})
	require.Equal(t, VerdictViolation, res.Verdict)
	require.Contains(t, res.FirstViolation, "may not write k9")
	vs, n := validateAuth(&history.History{Operations: []history.Operation{okAt("c1", 1, 2, 2, putK("k9"), putResp)}})
	require.Nil(t, vs)
	require.Equal(t, "no auth changes recorded", n.note())
}
