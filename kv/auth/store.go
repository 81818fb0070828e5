package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// marshal writes records deterministically: every member stores the same bytes.
var marshal = proto.MarshalOptions{Deterministic: true}

// The store's keys, all under Prefix, in the member's Pebble DB beside the MVCC store's
// (the snapshot streams and kv/snapshot carry them with the rest of the state machine).
const (
	// Prefix is the auth store's key space.
	Prefix     = "auth/"
	userPrefix = Prefix + "user/"
	rolePrefix = Prefix + "role/"
	// RootUser and RootRole are etcd's: auth enable needs the user root holding the role root,
	// and the role root may do everything.
	RootUser = "root"
	RootRole = "root"
)

var (
	keyEnabled  = []byte(Prefix + "enabled")
	keyRevision = []byte(Prefix + "revision")
)

// etcd's auth errors, as its gRPC layer sends them (status errors, so kv/node counts them as
// a request's own answer and rpc passes them on unchanged).
var (
	ErrRootUserNotExist     = rpctypes.ErrGRPCRootUserNotExist
	ErrRootRoleNotExist     = rpctypes.ErrGRPCRootRoleNotExist
	ErrUserAlreadyExist     = rpctypes.ErrGRPCUserAlreadyExist
	ErrUserEmpty            = rpctypes.ErrGRPCUserEmpty
	ErrUserNotFound         = rpctypes.ErrGRPCUserNotFound
	ErrRoleAlreadyExist     = rpctypes.ErrGRPCRoleAlreadyExist
	ErrRoleNotFound         = rpctypes.ErrGRPCRoleNotFound
	ErrRoleEmpty            = rpctypes.ErrGRPCRoleEmpty
	ErrAuthFailed           = rpctypes.ErrGRPCAuthFailed
	ErrPermissionNotGiven   = rpctypes.ErrGRPCPermissionNotGiven
	ErrPermissionDenied     = rpctypes.ErrGRPCPermissionDenied
	ErrRoleNotGranted       = rpctypes.ErrGRPCRoleNotGranted
	ErrPermissionNotGranted = rpctypes.ErrGRPCPermissionNotGranted
	ErrAuthNotEnabled       = rpctypes.ErrGRPCAuthNotEnabled
	ErrInvalidAuthToken     = rpctypes.ErrGRPCInvalidAuthToken
	ErrInvalidAuthMgmt      = rpctypes.ErrGRPCInvalidAuthMgmt
	ErrAuthOldRevision      = rpctypes.ErrGRPCAuthOldRevision
	// ErrNoPasswordUser has no gRPC twin in etcd: its server sends it with code Unknown.
	ErrNoPasswordUser = status.Error(codes.Unknown, "auth: authentication failed, password was given for no password user")
)

// Info is who makes a request: the user name and the auth revision its credentials were
// checked at (etcd's AuthInfo, carried in InternalRaftRequest.Header). The zero Info is no
// user at all.
type Info struct {
	User     string
	Revision uint64
}

// Store is the auth state of one member: whether auth is enabled, the auth revision (bumped
// by every change of users, roles or permissions and by auth disable, as in etcd), users and
// roles. It is changed only by Apply, from committed entries, so every member holds the same
// store at the same applied index. One goroutine uses it.
type Store struct {
	enabled  bool
	revision uint64
	users    map[string]*authpb.User
	roles    map[string]*authpb.Role
}

// Open loads the store from r. A store that was never written is empty and disabled with
// revision 1 (etcd starts its auth revision at 1, so that revision 0 means "no user").
func Open(r pebble.Reader) (*Store, error) {
	s := &Store{revision: 1, users: map[string]*authpb.User{}, roles: map[string]*authpb.Role{}}
	if v, closer, err := r.Get(keyEnabled); err == nil {
		s.enabled = len(v) == 1 && v[0] == 1
		_ = closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("auth: read %s: %w", keyEnabled, err)
	}
	if v, closer, err := r.Get(keyRevision); err == nil {
		if len(v) != 8 {
			_ = closer.Close()
			return nil, fmt.Errorf("auth: %s holds %d bytes, not 8: refusing to open", keyRevision, len(v))
		}
		s.revision = binary.BigEndian.Uint64(v)
		_ = closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("auth: read %s: %w", keyRevision, err)
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte(Prefix), UpperBound: []byte(Prefix[:len(Prefix)-1] + "0")})
	if err != nil {
		return nil, fmt.Errorf("auth: iterate %s: %w", Prefix, err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := string(it.Key())
		switch {
		case strings.HasPrefix(k, userPrefix):
			var u authpb.User
			if err := proto.Unmarshal(it.Value(), &u); err != nil || string(u.Name) != k[len(userPrefix):] {
				return nil, fmt.Errorf("auth: user record %q is damaged: refusing to open", k)
			}
			s.users[string(u.Name)] = &u
		case strings.HasPrefix(k, rolePrefix):
			var ro authpb.Role
			if err := proto.Unmarshal(it.Value(), &ro); err != nil || string(ro.Name) != k[len(rolePrefix):] {
				return nil, fmt.Errorf("auth: role record %q is damaged: refusing to open", k)
			}
			s.roles[string(ro.Name)] = &ro
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("auth: iterate %s: %w", Prefix, err)
	}
	return s, nil
}

// Enabled reports whether auth is enabled.
func (s *Store) Enabled() bool { return s.enabled }

// Revision is the auth revision.
func (s *Store) Revision() uint64 { return s.revision }

// Password returns the bcrypt hash of user name's password and the auth revision, for the
// password check that etcd makes outside the state machine (bcrypt is slow on purpose). A
// user without a password (added with --no-password, for certificate users) cannot log in
// with one.
func (s *Store) Password(name string) (hash []byte, revision uint64, err error) {
	if !s.enabled {
		return nil, 0, ErrAuthNotEnabled
	}
	u := s.users[name]
	if u == nil {
		return nil, 0, ErrAuthFailed
	}
	if u.Options != nil && u.Options.NoPassword {
		return nil, 0, ErrNoPasswordUser
	}
	return slices.Clone(u.Password), s.revision, nil
}

// HasUser reports whether user name exists (a token's user may have been deleted since).
func (s *Store) HasUser(name string) bool { return s.users[name] != nil }

func hasRootRole(u *authpb.User) bool {
	i := sort.SearchStrings(u.Roles, RootRole)
	return i < len(u.Roles) && u.Roles[i] == RootRole
}

// CheckAdmin is etcd's IsAdminPermitted: with auth enabled, only a user holding the root
// role may make the call.
func (s *Store) CheckAdmin(ai Info) error {
	if !s.enabled {
		return nil
	}
	if ai.User == "" {
		return ErrUserEmpty
	}
	u := s.users[ai.User]
	if u == nil {
		return ErrUserNotFound
	}
	if !hasRootRole(u) {
		return ErrPermissionDenied
	}
	return nil
}

// Check is etcd's isOpPermitted: with auth enabled, the request's user must exist, its
// credentials must not predate the store's revision (a permission may have been revoked
// since), and the user must hold the root role or roles whose permissions of kind typ
// (READWRITE counting as both) cover the key range (key, rangeEnd) in etcd's encoding.
func (s *Store) Check(ai Info, key, rangeEnd []byte, typ authpb.Permission_Type) error {
	if !s.enabled {
		return nil
	}
	if ai.Revision == 0 {
		return ErrUserEmpty
	}
	if ai.Revision < s.revision {
		return ErrAuthOldRevision
	}
	u := s.users[ai.User]
	if u == nil {
		return ErrPermissionDenied
	}
	if hasRootRole(u) {
		return nil
	}
	var perms []Perm
	for _, name := range u.Roles {
		ro := s.roles[name]
		if ro == nil {
			continue
		}
		for _, p := range ro.KeyPermission {
			if p.PermType == typ || p.PermType == authpb.READWRITE {
				perms = append(perms, Perm{Key: p.Key, RangeEnd: p.RangeEnd})
			}
		}
	}
	if Permitted(perms, key, rangeEnd) {
		return nil
	}
	return ErrPermissionDenied
}

// IsAuthRequest reports whether req is one of the auth store's requests (Apply's).
func IsAuthRequest(req *pb.InternalRaftRequest) bool {
	return req.AuthEnable != nil || req.AuthDisable != nil || req.AuthStatus != nil || req.Authenticate != nil ||
		req.AuthUserAdd != nil || req.AuthUserDelete != nil || req.AuthUserGet != nil || req.AuthUserChangePassword != nil ||
		req.AuthUserGrantRole != nil || req.AuthUserRevokeRole != nil || req.AuthUserList != nil || req.AuthRoleList != nil ||
		req.AuthRoleAdd != nil || req.AuthRoleDelete != nil || req.AuthRoleGet != nil || req.AuthRoleGrantPermission != nil ||
		req.AuthRoleRevokePermission != nil
}

// needsAdmin lists the calls only root may make (etcd's needAdminPermission).
func needsAdmin(req *pb.InternalRaftRequest) bool {
	return req.AuthEnable != nil || req.AuthDisable != nil || req.AuthUserAdd != nil || req.AuthUserDelete != nil ||
		req.AuthUserChangePassword != nil || req.AuthUserGrantRole != nil || req.AuthUserRevokeRole != nil ||
		req.AuthRoleAdd != nil || req.AuthRoleGrantPermission != nil || req.AuthRoleRevokePermission != nil ||
		req.AuthRoleDelete != nil || req.AuthUserList != nil || req.AuthRoleList != nil
}

// Apply applies one committed auth request made by ai, writing what it changes into w, and
// returns etcd's response message for it (*pb.AuthXxxResponse without header) or etcd's
// error, in which case nothing changed. An Authenticate that succeeds returns
// *pb.AuthenticateResponse without a token: the caller assigns one (tokens live beside the
// store, not in it).
func (s *Store) Apply(w pebble.Writer, req *pb.InternalRaftRequest, ai Info) (any, error) {
	if needsAdmin(req) {
		if err := s.CheckAdmin(ai); err != nil {
			return nil, err
		}
	}
	switch {
	case req.AuthEnable != nil:
		return &pb.AuthEnableResponse{}, s.enable(w)
	case req.AuthDisable != nil:
		return &pb.AuthDisableResponse{}, s.disable(w)
	case req.AuthStatus != nil:
		return &pb.AuthStatusResponse{Enabled: s.enabled, AuthRevision: s.revision}, nil
	case req.Authenticate != nil:
		u := s.users[req.Authenticate.Name]
		switch {
		case !s.enabled:
			return nil, ErrAuthNotEnabled
		case u == nil, u.Options != nil && u.Options.NoPassword:
			return nil, ErrAuthFailed
		}
		return &pb.AuthenticateResponse{}, nil
	case req.AuthUserAdd != nil:
		return &pb.AuthUserAddResponse{}, s.userAdd(w, req.AuthUserAdd)
	case req.AuthUserDelete != nil:
		r := req.AuthUserDelete
		if s.enabled && r.Name == RootUser {
			return nil, ErrInvalidAuthMgmt
		}
		if s.users[r.Name] == nil {
			return nil, ErrUserNotFound
		}
		delete(s.users, r.Name)
		return &pb.AuthUserDeleteResponse{}, s.commit(w, []byte(userPrefix+r.Name), nil)
	case req.AuthUserGet != nil:
		r := req.AuthUserGet
		if err := s.CheckAdmin(ai); err != nil && r.Name != ai.User {
			return nil, err
		}
		u := s.users[r.Name]
		if u == nil {
			return nil, ErrUserNotFound
		}
		return &pb.AuthUserGetResponse{Roles: slices.Clone(u.Roles)}, nil
	case req.AuthUserChangePassword != nil:
		return &pb.AuthUserChangePasswordResponse{}, s.changePassword(w, req.AuthUserChangePassword)
	case req.AuthUserGrantRole != nil:
		return &pb.AuthUserGrantRoleResponse{}, s.grantRole(w, req.AuthUserGrantRole)
	case req.AuthUserRevokeRole != nil:
		return &pb.AuthUserRevokeRoleResponse{}, s.revokeRole(w, req.AuthUserRevokeRole)
	case req.AuthUserList != nil:
		return &pb.AuthUserListResponse{Users: sortedKeys(s.users)}, nil
	case req.AuthRoleList != nil:
		return &pb.AuthRoleListResponse{Roles: sortedKeys(s.roles)}, nil
	case req.AuthRoleAdd != nil:
		r := req.AuthRoleAdd
		if r.Name == "" {
			return nil, ErrRoleEmpty
		}
		if s.roles[r.Name] != nil {
			return nil, ErrRoleAlreadyExist
		}
		return &pb.AuthRoleAddResponse{}, s.putRole(w, &authpb.Role{Name: []byte(r.Name)})
	case req.AuthRoleDelete != nil:
		return &pb.AuthRoleDeleteResponse{}, s.roleDelete(w, req.AuthRoleDelete)
	case req.AuthRoleGet != nil:
		r := req.AuthRoleGet
		if err := s.CheckAdmin(ai); err != nil && !s.hasRole(ai.User, r.Role) {
			return nil, err
		}
		ro := s.roles[r.Role]
		if ro == nil {
			return nil, ErrRoleNotFound
		}
		if r.Role == RootRole {
			// etcd's rootPerm: every key
			return &pb.AuthRoleGetResponse{Perm: []*authpb.Permission{{PermType: authpb.READWRITE, Key: []byte{}, RangeEnd: []byte{0}}}}, nil
		}
		perms := make([]*authpb.Permission, len(ro.KeyPermission))
		for i, p := range ro.KeyPermission {
			perms[i] = clonePerm(p)
		}
		return &pb.AuthRoleGetResponse{Perm: perms}, nil
	case req.AuthRoleGrantPermission != nil:
		return &pb.AuthRoleGrantPermissionResponse{}, s.grantPermission(w, req.AuthRoleGrantPermission)
	case req.AuthRoleRevokePermission != nil:
		return &pb.AuthRoleRevokePermissionResponse{}, s.revokePermission(w, req.AuthRoleRevokePermission)
	}
	return nil, fmt.Errorf("auth: %v is not an auth request", req)
}

func (s *Store) hasRole(user, role string) bool {
	u := s.users[user]
	return u != nil && slices.Contains(u.Roles, role)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Store) enable(w pebble.Writer) error {
	if s.enabled {
		return nil // etcd ignores a second enable
	}
	u := s.users[RootUser]
	if u == nil {
		return ErrRootUserNotExist
	}
	if !hasRootRole(u) {
		return ErrRootRoleNotExist
	}
	s.enabled = true
	return w.Set(keyEnabled, []byte{1}, nil)
}

func (s *Store) disable(w pebble.Writer) error {
	if !s.enabled {
		return nil
	}
	s.enabled = false
	if err := w.Set(keyEnabled, []byte{0}, nil); err != nil {
		return err
	}
	return s.bump(w)
}

// bump raises the auth revision by one and records it.
func (s *Store) bump(w pebble.Writer) error {
	next := s.revision + 1
	if next <= s.revision {
		panic(fmt.Sprintf("auth: revision %d would not increase", s.revision))
	}
	s.revision = next
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], next)
	return w.Set(keyRevision, v[:], nil)
}

// commit writes value at key (nil: deletes key) and bumps the revision.
func (s *Store) commit(w pebble.Writer, key, value []byte) error {
	var err error
	if value == nil {
		err = w.Delete(key, nil)
	} else {
		err = w.Set(key, value, nil)
	}
	if err != nil {
		return err
	}
	return s.bump(w)
}

func (s *Store) putUser(w pebble.Writer, u *authpb.User) error {
	v, err := marshal.Marshal(u)
	if err != nil {
		return err
	}
	s.users[string(u.Name)] = u
	return s.commit(w, []byte(userPrefix+string(u.Name)), v)
}

func (s *Store) putRole(w pebble.Writer, ro *authpb.Role) error {
	v, err := marshal.Marshal(ro)
	if err != nil {
		return err
	}
	s.roles[string(ro.Name)] = ro
	return s.commit(w, []byte(rolePrefix+string(ro.Name)), v)
}

// hashFromRequest is the stored password of a user add or password change: the bcrypt hash
// the API layer made (base64, etcd's HashedPassword), never the password itself.
func hashFromRequest(password, hashed string) ([]byte, error) {
	if password != "" && hashed == "" {
		// etcd hashes here for entries of releases before 3.5; Ballast's API layer always
		// hashes first, and hashing at apply would make members differ (bcrypt salts).
		return nil, fmt.Errorf("auth: a password reached the state machine unhashed")
	}
	h, err := base64.StdEncoding.DecodeString(hashed)
	if err != nil {
		return nil, ErrNoPasswordUser
	}
	return h, nil
}

func (s *Store) userAdd(w pebble.Writer, r *pb.AuthUserAddRequest) error {
	if r.Name == "" {
		return ErrUserEmpty
	}
	if s.users[r.Name] != nil {
		return ErrUserAlreadyExist
	}
	opts := r.Options
	if opts == nil {
		opts = &authpb.UserAddOptions{}
	}
	u := &authpb.User{Name: []byte(r.Name), Options: &authpb.UserAddOptions{NoPassword: opts.NoPassword}}
	if !opts.NoPassword {
		h, err := hashFromRequest(r.Password, r.HashedPassword)
		if err != nil {
			return err
		}
		u.Password = h
	}
	return s.putUser(w, u)
}

func (s *Store) changePassword(w pebble.Writer, r *pb.AuthUserChangePasswordRequest) error {
	u := s.users[r.Name]
	if u == nil {
		return ErrUserNotFound
	}
	next := &authpb.User{Name: u.Name, Roles: u.Roles, Options: u.Options}
	if u.Options == nil || !u.Options.NoPassword {
		h, err := hashFromRequest(r.Password, r.HashedPassword)
		if err != nil {
			return err
		}
		next.Password = h
	}
	return s.putUser(w, next)
}

func (s *Store) grantRole(w pebble.Writer, r *pb.AuthUserGrantRoleRequest) error {
	u := s.users[r.User]
	if u == nil {
		return ErrUserNotFound
	}
	if r.Role != RootRole && s.roles[r.Role] == nil {
		return ErrRoleNotFound
	}
	i := sort.SearchStrings(u.Roles, r.Role)
	if i < len(u.Roles) && u.Roles[i] == r.Role {
		return nil // etcd ignores a role granted twice, and the revision stays
	}
	next := &authpb.User{Name: u.Name, Password: u.Password, Options: u.Options, Roles: slices.Insert(slices.Clone(u.Roles), i, r.Role)}
	return s.putUser(w, next)
}

func (s *Store) revokeRole(w pebble.Writer, r *pb.AuthUserRevokeRoleRequest) error {
	if s.enabled && r.Name == RootUser && r.Role == RootRole {
		return ErrInvalidAuthMgmt
	}
	u := s.users[r.Name]
	if u == nil {
		return ErrUserNotFound
	}
	i := slices.Index(u.Roles, r.Role)
	if i < 0 {
		return ErrRoleNotGranted
	}
	next := &authpb.User{Name: u.Name, Password: u.Password, Options: u.Options, Roles: slices.Delete(slices.Clone(u.Roles), i, i+1)}
	return s.putUser(w, next)
}

func (s *Store) roleDelete(w pebble.Writer, r *pb.AuthRoleDeleteRequest) error {
	if s.enabled && r.Role == RootRole {
		return ErrInvalidAuthMgmt
	}
	if s.roles[r.Role] == nil {
		return ErrRoleNotFound
	}
	delete(s.roles, r.Role)
	if err := w.Delete([]byte(rolePrefix+r.Role), nil); err != nil {
		return err
	}
	// The users holding the role lose it, in the same revision (etcd's one commit).
	for _, name := range sortedKeys(s.users) {
		u := s.users[name]
		i := slices.Index(u.Roles, r.Role)
		if i < 0 {
			continue
		}
		next := &authpb.User{Name: u.Name, Password: u.Password, Options: u.Options, Roles: slices.Delete(slices.Clone(u.Roles), i, i+1)}
		v, err := marshal.Marshal(next)
		if err != nil {
			return err
		}
		s.users[name] = next
		if err := w.Set([]byte(userPrefix+name), v, nil); err != nil {
			return err
		}
	}
	return s.bump(w)
}

// ValidPermissionRange is etcd's isValidPermissionRange: a key is given, and the range end
// is empty (one key), "\x00" (from the key on) or after the key.
func ValidPermissionRange(key, rangeEnd []byte) bool {
	switch {
	case len(key) == 0:
		return false
	case len(rangeEnd) == 0:
		return true
	case bytes.Compare(key, rangeEnd) < 0:
		return true
	}
	return len(rangeEnd) == 1 && rangeEnd[0] == 0
}

func (s *Store) grantPermission(w pebble.Writer, r *pb.AuthRoleGrantPermissionRequest) error {
	if r.Perm == nil {
		return ErrPermissionNotGiven
	}
	if !ValidPermissionRange(r.Perm.Key, r.Perm.RangeEnd) {
		return ErrInvalidAuthMgmt
	}
	if r.Perm.PermType != authpb.READ && r.Perm.PermType != authpb.WRITE && r.Perm.PermType != authpb.READWRITE {
		return ErrInvalidAuthMgmt
	}
	ro := s.roles[r.Name]
	if ro == nil {
		return ErrRoleNotFound
	}
	perms := make([]*authpb.Permission, 0, len(ro.KeyPermission)+1)
	for _, p := range ro.KeyPermission {
		perms = append(perms, clonePerm(p))
	}
	i := sort.Search(len(perms), func(i int) bool { return bytes.Compare(perms[i].Key, r.Perm.Key) >= 0 })
	if i < len(perms) && bytes.Equal(perms[i].Key, r.Perm.Key) && bytes.Equal(perms[i].RangeEnd, r.Perm.RangeEnd) {
		perms[i].PermType = r.Perm.PermType // etcd updates a permission granted again
	} else {
		perms = append(perms, &authpb.Permission{Key: slices.Clone(r.Perm.Key), RangeEnd: slices.Clone(r.Perm.RangeEnd), PermType: r.Perm.PermType})
		sort.SliceStable(perms, func(a, b int) bool { return bytes.Compare(perms[a].Key, perms[b].Key) < 0 })
	}
	return s.putRole(w, &authpb.Role{Name: ro.Name, KeyPermission: perms})
}

func (s *Store) revokePermission(w pebble.Writer, r *pb.AuthRoleRevokePermissionRequest) error {
	ro := s.roles[r.Role]
	if ro == nil {
		return ErrRoleNotFound
	}
	var kept []*authpb.Permission
	for _, p := range ro.KeyPermission {
		if !bytes.Equal(p.Key, r.Key) || !bytes.Equal(p.RangeEnd, r.RangeEnd) {
			kept = append(kept, p)
		}
	}
	if len(kept) == len(ro.KeyPermission) {
		return ErrPermissionNotGranted
	}
	return s.putRole(w, &authpb.Role{Name: ro.Name, KeyPermission: kept})
}

func clonePerm(p *authpb.Permission) *authpb.Permission {
	return &authpb.Permission{PermType: p.PermType, Key: slices.Clone(p.Key), RangeEnd: slices.Clone(p.RangeEnd)}
}
