package auth

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
)

// Stored is the auth store as etcd's snapshot holds it (its "auth", "authUsers" and
// "authRoles" buckets): the enabled flag, the auth revision, and every user and role as
// etcd's protobuf records, sorted by name.
type Stored struct {
	Enabled  bool
	Revision uint64
	Users    []*authpb.User
	Roles    []*authpb.Role
}

// Export reads the auth store from r for a snapshot (kv/snapshot), as Open would load it.
func Export(r pebble.Reader) (Stored, error) {
	s, err := Open(r)
	if err != nil {
		return Stored{}, err
	}
	out := Stored{Enabled: s.enabled, Revision: s.revision}
	for _, name := range sortedKeys(s.users) {
		out.Users = append(out.Users, s.users[name])
	}
	for _, name := range sortedKeys(s.roles) {
		out.Roles = append(out.Roles, s.roles[name])
	}
	return out, nil
}

// Import writes a snapshot's auth store into w (a store that holds none yet), refusing a
// record etcd would not have written: a user or role without a name, a name given twice,
// revision 0, a permission range etcd's grant refuses, a user holding a role that is not
// there (the root role excepted: it needs no record), a user's roles unsorted or repeated.
func Import(w pebble.Writer, st Stored) error {
	if st.Revision == 0 {
		return fmt.Errorf("auth: snapshot auth revision 0: etcd starts at 1")
	}
	roles := map[string]bool{}
	for _, ro := range st.Roles {
		name := string(ro.Name)
		if name == "" || strings.ContainsRune(name, 0) || roles[name] {
			return fmt.Errorf("auth: snapshot role %q: empty or given twice", name)
		}
		roles[name] = true
		for _, p := range ro.KeyPermission {
			if !ValidPermissionRange(p.Key, p.RangeEnd) {
				return fmt.Errorf("auth: snapshot role %q: permission [%q, %q) is not a range etcd grants", name, p.Key, p.RangeEnd)
			}
		}
		v, err := marshal.Marshal(ro)
		if err != nil {
			return err
		}
		if err := w.Set([]byte(rolePrefix+name), v, nil); err != nil {
			return err
		}
	}
	users := map[string]bool{}
	for _, u := range st.Users {
		name := string(u.Name)
		if name == "" || users[name] {
			return fmt.Errorf("auth: snapshot user %q: empty or given twice", name)
		}
		users[name] = true
		for i := 1; i < len(u.Roles); i++ {
			if u.Roles[i-1] >= u.Roles[i] {
				return fmt.Errorf("auth: snapshot user %q: roles %q not sorted or given twice (etcd keeps them sorted, once each)", name, u.Roles)
			}
		}
		for _, ro := range u.Roles {
			if ro != RootRole && !roles[ro] {
				return fmt.Errorf("auth: snapshot user %q holds role %q, which the snapshot does not define", name, ro)
			}
		}
		v, err := marshal.Marshal(u)
		if err != nil {
			return err
		}
		if err := w.Set([]byte(userPrefix+name), v, nil); err != nil {
			return err
		}
	}
	enabled := byte(0)
	if st.Enabled {
		enabled = 1
	}
	if err := w.Set(keyEnabled, []byte{enabled}, nil); err != nil {
		return err
	}
	return w.Set(keyRevision, binary.BigEndian.AppendUint64(nil, st.Revision), nil)
}
