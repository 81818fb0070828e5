package auth

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/authpb"
)

// TestImportRefusals: a snapshot's auth store that etcd would not have written is refused
// with a clear error, and one it would have written opens with the same users and roles.
// etcd keeps a user's roles sorted and unique (its UserGrantRole sorts them, and the root
// check searches them): unsorted or repeated roles would hide the root role from
// hasRootRole and make a revoke leave the role granted.
func TestImportRefusals(t *testing.T) {
	role := func(name string) *authpb.Role {
		return &authpb.Role{Name: []byte(name), KeyPermission: []*authpb.Permission{{PermType: authpb.READ, Key: []byte("k")}}}
	}
	user := func(name string, roles ...string) *authpb.User {
		return &authpb.User{Name: []byte(name), Password: []byte("h"), Roles: roles}
	}
	for _, tc := range []struct {
		name string
		st   Stored
		want string // "" : accepted
	}{
		{"good", Stored{Revision: 3, Users: []*authpb.User{user("a", "r", "root"), user("b")}, Roles: []*authpb.Role{role("r")}}, ""},
		{"revision 0", Stored{}, "auth revision 0"},
		{"role without name", Stored{Revision: 1, Roles: []*authpb.Role{role("")}}, "empty or given twice"},
		{"role twice", Stored{Revision: 1, Roles: []*authpb.Role{role("r"), role("r")}}, "empty or given twice"},
		{"bad permission", Stored{Revision: 1, Roles: []*authpb.Role{{Name: []byte("r"), KeyPermission: []*authpb.Permission{{Key: []byte("b"), RangeEnd: []byte("a")}}}}}, "not a range etcd grants"},
		{"user without name", Stored{Revision: 1, Users: []*authpb.User{user("")}}, "empty or given twice"},
		{"user twice", Stored{Revision: 1, Users: []*authpb.User{user("a"), user("a")}}, "empty or given twice"},
		{"unknown role", Stored{Revision: 1, Users: []*authpb.User{user("a", "nope")}}, "does not define"},
		{"roles unsorted", Stored{Revision: 1, Users: []*authpb.User{user("a", "root", "r")}, Roles: []*authpb.Role{role("r")}}, "not sorted"},
		{"role repeated", Stored{Revision: 1, Users: []*authpb.User{user("a", "r", "r")}, Roles: []*authpb.Role{role("r")}}, "not sorted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openMem(t)
			b := db.NewBatch()
			defer b.Close()
			err := Import(b, tc.st)
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			require.NoError(t, b.Commit(nil))
			s, err := Open(db)
			require.NoError(t, err)
			require.Equal(t, tc.st.Revision, s.Revision())
			require.NoError(t, s.CheckAdmin(Info{User: "a"}), "a holds root")
		})
	}
}
