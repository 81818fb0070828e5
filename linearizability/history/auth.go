package history

import "fmt"

// AuthAction is the change an auth request makes: one of etcd's Auth service calls that
// change the auth store.
type AuthAction string

const (
	AuthUserAdd              AuthAction = "user_add"
	AuthUserDelete           AuthAction = "user_delete"
	AuthUserChangePassword   AuthAction = "user_change_password"
	AuthUserGrantRole        AuthAction = "user_grant_role"
	AuthUserRevokeRole       AuthAction = "user_revoke_role"
	AuthRoleAdd              AuthAction = "role_add"
	AuthRoleDelete           AuthAction = "role_delete"
	AuthRoleGrantPermission  AuthAction = "role_grant_permission"
	AuthRoleRevokePermission AuthAction = "role_revoke_permission"
	AuthEnable               AuthAction = "enable"
	AuthDisable              AuthAction = "disable"
)

// PermType is a key-range permission's kind, as etcd's authpb.Permission_Type.
type PermType string

const (
	PermRead      PermType = "read"
	PermWrite     PermType = "write"
	PermReadWrite PermType = "readwrite"
)

// AuthRequest is one change of the auth store. Which fields it needs depends on Action:
// User for the user_* actions, Role for the role_* actions and for user_grant_role and
// user_revoke_role, Key (and RangeEnd, in etcd's range encoding) for the permission actions,
// Perm for role_grant_permission. A field the action does not use must be absent.
type AuthRequest struct {
	Action   AuthAction `json:"action" history:"required"`
	User     string     `json:"user,omitempty"`
	Role     string     `json:"role,omitempty"`
	Key      Bytes      `json:"key,omitempty"`
	RangeEnd Bytes      `json:"range_end,omitempty"`
	Perm     PermType   `json:"perm,omitempty"`
}

// AuthResponse answers an auth change.
type AuthResponse struct {
	// AuthRevision is the auth store's revision right after the change applied. Every change
	// raises it by one except enable, a disable of a disabled store and a role granted to a
	// user who holds it already, which leave it (as etcd's auth store does).
	AuthRevision int64 `json:"auth_revision"`
}

func (x AuthRequest) MarshalJSON() ([]byte, error)      { return encodeObject("", &x) }
func (x *AuthRequest) UnmarshalJSON(data []byte) error  { return decodeObject(data, x, false) }
func (x AuthResponse) MarshalJSON() ([]byte, error)     { return encodeObject("", &x) }
func (x *AuthResponse) UnmarshalJSON(data []byte) error { return decodeObject(data, x, false) }

// authFields says which fields each action takes: user, role, key (with range_end), perm.
var authFields = map[AuthAction][4]bool{
	AuthUserAdd:              {true, false, false, false},
	AuthUserDelete:           {true, false, false, false},
	AuthUserChangePassword:   {true, false, false, false},
	AuthUserGrantRole:        {true, true, false, false},
	AuthUserRevokeRole:       {true, true, false, false},
	AuthRoleAdd:              {false, true, false, false},
	AuthRoleDelete:           {false, true, false, false},
	AuthRoleGrantPermission:  {false, true, true, true},
	AuthRoleRevokePermission: {false, true, true, false},
	AuthEnable:               {false, false, false, false},
	AuthDisable:              {false, false, false, false},
}

func (a *AuthRequest) validate() error {
	want, ok := authFields[a.Action]
	if !ok {
		return fmt.Errorf("unknown action %q", a.Action)
	}
	for _, f := range []struct {
		name      string
		set, want bool
	}{{"user", a.User != "", want[0]}, {"role", a.Role != "", want[1]}, {"key", len(a.Key) > 0, want[2]},
		{"perm", a.Perm != "", want[3]}} {
		switch {
		case f.set && !f.want:
			return fmt.Errorf("%s: %s takes no %s", a.Action, a.Action, f.name)
		case !f.set && f.want:
			return fmt.Errorf("%s: %s is required", a.Action, f.name)
		}
	}
	if len(a.RangeEnd) > 0 && !want[2] {
		return fmt.Errorf("%s: %s takes no range_end", a.Action, a.Action)
	}
	switch a.Perm {
	case "", PermRead, PermWrite, PermReadWrite:
	default:
		return fmt.Errorf("%s: perm %q: must be %q, %q or %q", a.Action, a.Perm, PermRead, PermWrite, PermReadWrite)
	}
	return nil
}
