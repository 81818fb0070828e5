package auth

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"
)

func openMem(t *testing.T) *pebble.DB {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// apply applies req as ai and commits the batch.
func apply(t *testing.T, db *pebble.DB, s *Store, ai Info, req *pb.InternalRaftRequest) (any, error) {
	b := db.NewBatch()
	defer b.Close()
	out, err := s.Apply(b, req, ai)
	if err == nil {
		require.NoError(t, b.Commit(pebble.Sync))
	} else {
		require.True(t, b.Empty(), "a refused %v wrote to the batch", req)
	}
	return out, err
}

func hash(t *testing.T, pw string) string {
	h, err := HashPassword(pw, bcrypt.MinCost)
	require.NoError(t, err)
	return h
}

// TestStoreRequests: each auth request's answer and error as etcd's authStore gives them,
// in one session; a refused request changes nothing (not even the revision).
func TestStoreRequests(t *testing.T) {
	db := openMem(t)
	s, err := Open(db)
	require.NoError(t, err)
	require.Equal(t, uint64(1), s.Revision())
	root := Info{User: "root"}
	steps := []struct {
		who     Info
		req     *pb.InternalRaftRequest
		want    error
		bumps   bool
		checkFn func(out any)
	}{
		{Info{}, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}, ErrRootUserNotExist, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: ""}}, ErrUserEmpty, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: hash(t, "pw")}}, nil, true, nil},
		{Info{}, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", HashedPassword: hash(t, "pw")}}, ErrUserAlreadyExist, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: "x", Password: "plain"}}, nil, false, nil}, // replaced below
		{Info{}, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}, ErrRootRoleNotExist, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}}, nil, true, nil},
		{Info{}, &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}}, nil, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "nope"}}, ErrRoleNotFound, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "nobody", Role: "root"}}, ErrUserNotFound, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: ""}}, ErrRoleEmpty, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "r"}}, nil, true, nil},
		{Info{}, &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: "r"}}, ErrRoleAlreadyExist, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r"}}, ErrPermissionNotGiven, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{Key: []byte("z"), RangeEnd: []byte("a")}}}, ErrInvalidAuthMgmt, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{Key: []byte{}, RangeEnd: []byte("a")}}}, ErrInvalidAuthMgmt, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{Key: []byte("b"), RangeEnd: []byte("c")}}}, nil, true, nil},
		{Info{}, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{Key: []byte("a"), PermType: authpb.WRITE}}}, nil, true, nil},
		{Info{}, &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{Key: []byte("a"), PermType: authpb.READWRITE}}}, nil, true, nil},
		{Info{}, &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "r"}}, nil, false, func(out any) {
			perms := out.(*pb.AuthRoleGetResponse).Perm
			require.Len(t, perms, 2) // sorted by key; the second grant of "a" updated the first
			require.Equal(t, "a", string(perms[0].Key))
			require.Equal(t, authpb.READWRITE, perms[0].PermType)
			require.Equal(t, "b", string(perms[1].Key))
		}},
		{Info{}, &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: "r", Key: []byte("b")}}, ErrPermissionNotGranted, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}, nil, false, nil},
		{Info{}, &pb.InternalRaftRequest{AuthUserList: &pb.AuthUserListRequest{}}, ErrUserEmpty, false, nil},
		{Info{User: "ghost"}, &pb.InternalRaftRequest{AuthUserList: &pb.AuthUserListRequest{}}, ErrUserNotFound, false, nil},
		{root, &pb.InternalRaftRequest{AuthUserList: &pb.AuthUserListRequest{}}, nil, false, func(out any) {
			require.Equal(t, []string{"root", "x"}, out.(*pb.AuthUserListResponse).Users)
		}},
		{root, &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: "root"}}, ErrInvalidAuthMgmt, false, nil},
		{root, &pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: "root"}}, ErrInvalidAuthMgmt, false, nil},
		{root, &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: "root", Role: "root"}}, ErrInvalidAuthMgmt, false, nil},
		{root, &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: "x", Role: "r"}}, ErrRoleNotGranted, false, nil},
		{root, &pb.InternalRaftRequest{AuthRoleGet: &pb.AuthRoleGetRequest{Role: "root"}}, ErrRoleNotFound, false, nil}, // granted, never added
		{root, &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}}, nil, true, nil},
		{Info{}, &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}}, nil, false, nil},
	}
	// The unhashed password of an entry made before hashing moved to the API layer is
	// refused (hashing at apply would make members differ).
	steps[4].want = fmt.Errorf("unhashed")
	for i, st := range steps {
		before := s.Revision()
		out, err := apply(t, db, s, st.who, st.req)
		switch {
		case i == 4:
			require.ErrorContains(t, err, "unhashed", "step %d", i)
			steps[4].req.AuthUserAdd.Password, steps[4].req.AuthUserAdd.HashedPassword = "", hash(t, "x")
			_, err = apply(t, db, s, st.who, st.req)
			require.NoError(t, err)
			before = s.Revision()
		case st.want == nil:
			require.NoError(t, err, "step %d: %v", i, st.req)
		default:
			require.ErrorIs(t, err, st.want, "step %d: %v", i, st.req)
		}
		if st.bumps {
			require.Equal(t, before+1, s.Revision(), "step %d bumps the revision", i)
		} else {
			require.Equal(t, before, s.Revision(), "step %d leaves the revision", i)
		}
		if st.checkFn != nil {
			st.checkFn(out)
		}
	}
	reopened, err := Open(db)
	require.NoError(t, err)
	requireSameStore(t, s, reopened, "the store reopens as it was")
}

// model is a plain reference of the auth store: users' roles and roles' grants.
type model struct {
	enabled bool
	rev     uint64
	users   map[string][]string // sorted roles
	roles   map[string][]Perm
}

// TestStoreRandomized drives the store and a plain model with random requests (seeded;
// the seed is printed): the same requests fail, the same change the revision, the
// permission checks agree with Permitted over the model's grants, and the store reopened
// from its DB equals the one in memory after every step.
func TestStoreRandomized(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d (re-run: set seed in TestStoreRandomized)", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	db := openMem(t)
	s, err := Open(db)
	require.NoError(t, err)
	m := &model{rev: 1, users: map[string][]string{}, roles: map[string][]Perm{}}
	names := []string{"root", "u1", "u2"}
	roleNames := []string{"root", "ra", "rb"}
	keys := []string{"a", "b", "c", "d"}
	pw := hash(t, "pw")
	for step := 0; step < 400; step++ {
		u, ro := names[r.IntN(len(names))], roleNames[r.IntN(len(roleNames))]
		k := keys[r.IntN(len(keys))]
		var end string
		if r.IntN(2) == 0 {
			end = keys[r.IntN(len(keys))]
		}
		var req *pb.InternalRaftRequest
		var want error
		bump := false
		_, hasUser := m.users[u]
		_, hasRole := m.roles[ro]
		switch r.IntN(7) {
		case 0:
			req = &pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: u, HashedPassword: pw}}
			if hasUser {
				want = ErrUserAlreadyExist
			} else {
				m.users[u], bump = nil, true
			}
		case 1:
			req = &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: ro}}
			if hasRole {
				want = ErrRoleAlreadyExist
			} else {
				m.roles[ro], bump = nil, true
			}
		case 2:
			req = &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: u, Role: ro}}
			switch {
			case !hasUser:
				want = ErrUserNotFound
			case ro != RootRole && !hasRole:
				want = ErrRoleNotFound
			case !slices.Contains(m.users[u], ro):
				m.users[u] = append(m.users[u], ro)
				sort.Strings(m.users[u])
				bump = true
			}
		case 3:
			req = &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: u, Role: ro}}
			switch {
			case m.enabled && u == RootUser && ro == RootRole:
				want = ErrInvalidAuthMgmt
			case !hasUser:
				want = ErrUserNotFound
			case !slices.Contains(m.users[u], ro):
				want = ErrRoleNotGranted
			default:
				m.users[u] = slices.DeleteFunc(slices.Clone(m.users[u]), func(x string) bool { return x == ro })
				bump = true
			}
		case 4:
			req = &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: ro,
				Perm: &authpb.Permission{Key: []byte(k), RangeEnd: []byte(end), PermType: authpb.READWRITE}}}
			switch {
			case !ValidPermissionRange([]byte(k), []byte(end)):
				want = ErrInvalidAuthMgmt
			case !hasRole:
				want = ErrRoleNotFound
			default:
				if !slices.ContainsFunc(m.roles[ro], func(p Perm) bool { return string(p.Key) == k && string(p.RangeEnd) == end }) {
					m.roles[ro] = append(m.roles[ro], Perm{Key: []byte(k), RangeEnd: []byte(end)})
				}
				bump = true // etcd records a grant made again as well
			}
		case 5:
			req = &pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: ro}}
			switch {
			case m.enabled && ro == RootRole:
				want = ErrInvalidAuthMgmt
			case !hasRole:
				want = ErrRoleNotFound
			default:
				delete(m.roles, ro)
				for name, rs := range m.users {
					m.users[name] = slices.DeleteFunc(slices.Clone(rs), func(x string) bool { return x == ro })
				}
				bump = true
			}
		case 6:
			req = &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}
			switch {
			case m.enabled:
			case m.users[RootUser] == nil && !slices.Contains(keysOf(m.users), RootUser):
				want = ErrRootUserNotExist
			case !slices.Contains(m.users[RootUser], RootRole):
				want = ErrRootRoleNotExist
			default:
				m.enabled = true
			}
		}
		ai := Info{User: RootUser, Revision: s.Revision()}
		_, err := apply(t, db, s, ai, req)
		if want == nil {
			require.NoError(t, err, "seed %d step %d: %v", seed, step, req)
		} else {
			require.ErrorIs(t, err, want, "seed %d step %d: %v", seed, step, req)
		}
		if bump {
			m.rev++
		}
		require.Equal(t, m.rev, s.Revision(), "seed %d step %d: %v", seed, step, req)
		require.Equal(t, m.enabled, s.Enabled())
		// Permission checks against the model's grants.
		for _, name := range names {
			rs, ok := m.users[name]
			if !ok {
				continue
			}
			var perms []Perm
			for _, role := range rs {
				perms = append(perms, m.roles[role]...)
			}
			for _, key := range keys {
				got := s.Check(Info{User: name, Revision: s.Revision()}, []byte(key), nil, authpb.READ)
				var want error
				if m.enabled && !slices.Contains(rs, RootRole) && !Permitted(perms, []byte(key), nil) {
					want = ErrPermissionDenied
				}
				require.Equal(t, want, got, "seed %d step %d: %s reads %q", seed, step, name, key)
			}
		}
		reopened, err := Open(db)
		require.NoError(t, err)
		requireSameStore(t, s, reopened, fmt.Sprintf("seed %d step %d: the store reopens as it was", seed, step))
	}
}

// requireSameStore compares two stores' state (protobuf messages by content).
func requireSameStore(t *testing.T, a, b *Store, msg string) {
	t.Helper()
	require.Equal(t, a.enabled, b.enabled, msg)
	require.Equal(t, a.revision, b.revision, msg)
	require.Equal(t, sortedKeys(a.users), sortedKeys(b.users), msg)
	require.Equal(t, sortedKeys(a.roles), sortedKeys(b.roles), msg)
	for name, u := range a.users {
		require.True(t, proto.Equal(u, b.users[name]), "%s: user %s: %v vs %v", msg, name, u, b.users[name])
	}
	for name, ro := range a.roles {
		require.True(t, proto.Equal(ro, b.roles[name]), "%s: role %s: %v vs %v", msg, name, ro, b.roles[name])
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestOpenRefusesDamage: a damaged record stops Open with a message naming it.
func TestOpenRefusesDamage(t *testing.T) {
	db := openMem(t)
	require.NoError(t, db.Set([]byte(userPrefix+"bob"), []byte{0xff, 0xff}, pebble.Sync))
	_, err := Open(db)
	require.ErrorContains(t, err, `user record "auth/user/bob" is damaged`)
	db2 := openMem(t)
	require.NoError(t, db2.Set(keyRevision, []byte{1}, pebble.Sync))
	_, err = Open(db2)
	require.ErrorContains(t, err, "auth/revision holds 1 bytes")
}

// TestTokens: simple tokens' format, expiry after the TTL unused, refresh on use,
// invalidation per user.
func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		token string
		idx   uint64
		bad   bool
	}{{"abc.12", 12, false}, {"abc", 0, true}, {".12", 0, true}, {"abc.x", 0, true}, {"a.b.3", 0, true}, {"abc.0", 0, true}, {"abc.-1", 0, true}} {
		idx, err := TokenIndex(tc.token)
		if tc.bad {
			require.ErrorIs(t, err, ErrInvalidAuthToken, tc.token)
		} else {
			require.NoError(t, err)
			require.Equal(t, tc.idx, idx)
		}
	}
	tk := NewTokens(10)
	tk.Assign(SimpleToken("p", 5), "alice", 0)
	tk.Assign(SimpleToken("q", 6), "bob", 0)
	require.Panics(t, func() { tk.Assign("p.5", "eve", 1) })
	u, ok := tk.Lookup("p.5", 9) // used at 9: lives to 19
	require.True(t, ok)
	require.Equal(t, "alice", u)
	_, ok = tk.Lookup("q.6", 10)
	require.False(t, ok, "bob's token unused for the TTL")
	_, ok = tk.Lookup("p.5", 18)
	require.True(t, ok)
	tk.Expire(100)
	require.Zero(t, tk.Len())
	tk.Assign("r.7", "alice", 100)
	tk.Assign("s.8", "bob", 100)
	tk.InvalidateUser("alice")
	_, ok = tk.Lookup("r.7", 101)
	require.False(t, ok)
	_, ok = tk.Lookup("s.8", 101)
	require.True(t, ok)
}

// FuzzTokenIndex: the token parser never panics and accepts only "<prefix>.<index>".
func FuzzTokenIndex(f *testing.F) {
	for _, s := range []string{"abc.1", "", ".", "a.", "a.18446744073709551616", "x.y.z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		idx, err := TokenIndex(token)
		if err == nil {
			require.Equal(t, token, SimpleToken(token[:len(token)-len(fmt.Sprint(idx))-1], idx))
		}
	})
}
