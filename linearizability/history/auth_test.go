package history

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAuthRecords: auth changes and the user and auth revision of a request are read and
// written back byte for byte, and a version 1 file without them (example.jsonl, read by
// TestReadExample) still reads.
func TestAuthRecords(t *testing.T) {
	file := strings.Join([]string{
		testHeader,
		`{"kind":"op","client":"admin","call_ns":1,"return_ns":2,"user":"root","auth_revision":4,"request":{"auth":{"action":"role_grant_permission","role":"flip","key":"k0","range_end":"k4","perm":"readwrite"}},"response":{"header":{"revision":1},"auth":{"auth_revision":5}}}`,
		`{"kind":"op","client":"admin","call_ns":3,"request":{"auth":{"action":"enable"}}}`,
		`{"kind":"op","client":"c1","call_ns":4,"return_ns":6,"user":"bob","auth_revision":5,"request":{"put":{"key":"k5","value":"c1-1"}},"error":{"message":"etcdserver: permission denied","class":"definite"}}`,
		`{"kind":"op","client":"c2","call_ns":4,"return_ns":6,"user":"bob","auth_revision":4,"request":{"put":{"key":"k1","value":"c2-1"}},"error":{"message":"etcdserver: revision of auth store is old","class":"definite"}}`,
	}, "\n") + "\n"
	h, err := Read(strings.NewReader(file))
	require.NoError(t, err)
	require.Equal(t, &AuthRequest{Action: AuthRoleGrantPermission, Role: "flip", Key: Bytes("k0"), RangeEnd: Bytes("k4"), Perm: PermReadWrite}, h.Operations[0].Request.Auth)
	require.Equal(t, KindAuth, h.Operations[0].Response.Kind())
	require.Equal(t, int64(5), h.Operations[0].Response.Auth.AuthRevision)
	require.Equal(t, "bob", h.Operations[2].User)
	require.Equal(t, int64(5), h.Operations[2].AuthRevision)
	require.Equal(t, ErrorDefinite, Classify("rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old"))
	var out bytes.Buffer
	_, err = h.WriteTo(&out)
	require.NoError(t, err)
	require.Equal(t, file, out.String())
}

// TestAuthRecordErrors: malformed auth changes are refused naming the field.
func TestAuthRecordErrors(t *testing.T) {
	op := func(auth string) string {
		return `{"kind":"op","client":"c1","call_ns":1,"request":{"auth":` + auth + `}}`
	}
	for _, tc := range []struct{ name, line, reason string }{
		{"unknown action", op(`{"action":"promote"}`), `auth: unknown action "promote"`},
		{"missing action", op(`{"user":"a"}`), `missing field "action"`},
		{"grant without perm", op(`{"action":"role_grant_permission","role":"r","key":"a"}`), "role_grant_permission: perm is required"},
		{"grant without key", op(`{"action":"role_grant_permission","role":"r","perm":"read"}`), "role_grant_permission: key is required"},
		{"bad perm", op(`{"action":"role_grant_permission","role":"r","key":"a","perm":"all"}`), `perm "all": must be`},
		{"user_add with role", op(`{"action":"user_add","user":"u","role":"r"}`), "user_add takes no role"},
		{"enable with range_end", op(`{"action":"enable","range_end":"b"}`), "enable takes no range_end"},
		{"grant role without user", op(`{"action":"user_grant_role","role":"r"}`), "user_grant_role: user is required"},
		{"auth in txn", `{"kind":"op","client":"c1","call_ns":1,"request":{"txn":{"success":[{"auth":{"action":"enable"}}]}}}`, "auth is not allowed inside a txn"},
		{"negative auth revision", `{"kind":"op","client":"c1","auth_revision":-1,"call_ns":1,"request":{"range":{"key":"a"}}}`, "auth_revision -1: must not be negative"},
		{"auth response to put", `{"kind":"op","client":"c1","call_ns":1,"return_ns":2,"request":{"put":{"key":"a"}},"response":{"auth":{"auth_revision":2}}}`, "a auth response to a put request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(testHeader + "\n" + tc.line + "\n"))
			require.Error(t, err)
			require.Contains(t, err.Error(), "line 2: ")
			require.Contains(t, err.Error(), tc.reason)
		})
	}
}
