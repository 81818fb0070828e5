package sim

import (
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/linearizability/history"
)

// The auth workload (Scenario.Auth): before the scenario's clock starts, client "admin"
// sets up users and roles through the leader and enables auth, every step recorded:
//
//   - root (the root role), the only user the control client acts as;
//   - role reader: read on [k, l) (every workload key); role writer: readwrite on [k4, l);
//     role flip: readwrite on [k0, k4), the permission the control client toggles;
//   - alice: reader, writer, flip; bob: flip.
//
// Client i acts as alice, bob or root (i mod 3), so alice's writes below k4 and everything
// bob does succeed or are denied as the control client's changes go, and root's always pass.
// Every request carries its user and the auth revision of the member it is sent to at the
// call (node.Member.AuthRevision), as the API layer fills etcd's RequestHeader from a token;
// both are recorded (Operation.User, AuthRevision). A denied request is recorded with its
// error (definite: it changed nothing), a refusal as "revision of auth store is old" too
// (a change applied between the call and the check).
//
// Under load the control client "admin" (as root) cycles, every Auth.ChangeEvery (jittered
// like the clients' pauses), through: revoke flip's permission, grant it again, revoke flip
// from bob, grant it again; each answer's auth revision (node.Response.AuthRevision) is
// recorded, so the checker replays the changes in the order they applied.

// simRootHash is root's password, "simroot", hashed once with bcrypt.MinCost outside any
// run (auth.HashPassword): a run must not hash (bcrypt salts at random, and is slow).
const simRootHash = "JDJhJDA0JHZodnliL0tVWlYzM0tocXNqYmUyWGVBcjZFZmdkaU9QQ2lIaGQzYTYxell4cmZIbHRTMXJh"

// authUsers are the data clients' users, by client index mod 3.
var authUsers = [...]string{"alice", "bob", "root"}

// authAdmin is the control client's name.
const authAdmin = "admin"

func authPermReq(action history.AuthAction, role, key, end string, perm history.PermType) history.Request {
	return history.Request{Auth: &history.AuthRequest{Action: action, Role: role, Key: []byte(key), RangeEnd: []byte(end), Perm: perm}}
}

func authUserReq(action history.AuthAction, user, role string) history.Request {
	return history.Request{Auth: &history.AuthRequest{Action: action, User: user, Role: role}}
}

// authSetupRequests are the steps before the clock starts.
func authSetupRequests() []history.Request {
	return []history.Request{
		authUserReq(history.AuthUserAdd, "root", ""),
		authUserReq(history.AuthUserGrantRole, "root", "root"),
		authUserReq(history.AuthRoleAdd, "", "reader"),
		authPermReq(history.AuthRoleGrantPermission, "reader", "k", "l", history.PermRead),
		authUserReq(history.AuthRoleAdd, "", "writer"),
		authPermReq(history.AuthRoleGrantPermission, "writer", "k4", "l", history.PermReadWrite),
		authUserReq(history.AuthRoleAdd, "", "flip"),
		authPermReq(history.AuthRoleGrantPermission, "flip", "k0", "k4", history.PermReadWrite),
		authUserReq(history.AuthUserAdd, "alice", ""),
		authUserReq(history.AuthUserGrantRole, "alice", "reader"),
		authUserReq(history.AuthUserGrantRole, "alice", "writer"),
		authUserReq(history.AuthUserGrantRole, "alice", "flip"),
		authUserReq(history.AuthUserAdd, "bob", ""),
		authUserReq(history.AuthUserGrantRole, "bob", "flip"),
		{Auth: &history.AuthRequest{Action: history.AuthEnable}},
	}
}

// adminCycle is the control client's changes under load, in turn.
func adminCycle(step int) history.Request {
	switch step % 4 {
	case 0:
		return authPermReq(history.AuthRoleRevokePermission, "flip", "k0", "k4", "")
	case 1:
		return authPermReq(history.AuthRoleGrantPermission, "flip", "k0", "k4", history.PermReadWrite)
	case 2:
		return authUserReq(history.AuthUserRevokeRole, "bob", "flip")
	default:
		return authUserReq(history.AuthUserGrantRole, "bob", "flip")
	}
}

// authPB is an auth change as kv/node takes it.
func authPB(a *history.AuthRequest) *pb.InternalRaftRequest {
	perm := func() *authpb.Permission {
		p := &authpb.Permission{Key: a.Key, RangeEnd: a.RangeEnd}
		switch a.Perm {
		case history.PermRead:
			p.PermType = authpb.READ
		case history.PermWrite:
			p.PermType = authpb.WRITE
		default:
			p.PermType = authpb.READWRITE
		}
		return p
	}
	switch a.Action {
	case history.AuthUserAdd:
		r := &pb.AuthUserAddRequest{Name: a.User, Options: &authpb.UserAddOptions{NoPassword: a.User != "root"}}
		if a.User == "root" {
			r.HashedPassword = simRootHash
		}
		return &pb.InternalRaftRequest{AuthUserAdd: r}
	case history.AuthUserDelete:
		return &pb.InternalRaftRequest{AuthUserDelete: &pb.AuthUserDeleteRequest{Name: a.User}}
	case history.AuthUserChangePassword:
		return &pb.InternalRaftRequest{AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: a.User, HashedPassword: simRootHash}}
	case history.AuthUserGrantRole:
		return &pb.InternalRaftRequest{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: a.User, Role: a.Role}}
	case history.AuthUserRevokeRole:
		return &pb.InternalRaftRequest{AuthUserRevokeRole: &pb.AuthUserRevokeRoleRequest{Name: a.User, Role: a.Role}}
	case history.AuthRoleAdd:
		return &pb.InternalRaftRequest{AuthRoleAdd: &pb.AuthRoleAddRequest{Name: a.Role}}
	case history.AuthRoleDelete:
		return &pb.InternalRaftRequest{AuthRoleDelete: &pb.AuthRoleDeleteRequest{Role: a.Role}}
	case history.AuthRoleGrantPermission:
		return &pb.InternalRaftRequest{AuthRoleGrantPermission: &pb.AuthRoleGrantPermissionRequest{Name: a.Role, Perm: perm()}}
	case history.AuthRoleRevokePermission:
		return &pb.InternalRaftRequest{AuthRoleRevokePermission: &pb.AuthRoleRevokePermissionRequest{Role: a.Role, Key: a.Key, RangeEnd: a.RangeEnd}}
	case history.AuthEnable:
		return &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}}
	case history.AuthDisable:
		return &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}}
	}
	panic(fmt.Sprintf("sim: auth action %q not supported", a.Action))
}

// authSetup runs the setup steps one after another through the leader, each bounded by
// clientTimeout; the run fails if one does not succeed (no fault runs yet).
func (s *sim) authSetup() {
	for _, req := range authSetupRequests() {
		sm := s.c.leader()
		for deadline := s.w.now + warmupMax; sm == nil && s.w.now < deadline && !s.w.halted; sm = s.c.leader() {
			s.w.runUntil(s.w.now + settleStep)
		}
		if sm == nil {
			s.fail("auth setup: no leader")
			return
		}
		rev := int64(sm.m.AuthRevision())
		h := s.rec.CallAs(authAdmin, "root", rev, req, int64(s.w.now))
		s.w.traceCall(authAdmin, req, sm.name)
		var done bool
		var failure error
		pbReq := toPB(req)
		pbReq.Header = &pb.RequestHeader{Username: "root", AuthRevision: uint64(rev)}
		sm.m.Submit(pbReq, func(resp node.Response, err error) {
			done = true
			if err != nil {
				failure = err
				h.Fail(err, int64(s.w.now))
				return
			}
			hr := fromNode(resp)
			h.Return(hr, int64(s.w.now))
			s.w.traceOK(authAdmin, hr.Header.Revision, hr)
		})
		s.c.kick(sm)
		for deadline := s.w.now + clientTimeout; !done && s.w.now < deadline && !s.w.halted; {
			s.w.runUntil(s.w.now + time.Millisecond)
		}
		if !done {
			h.Unknown()
			s.fail(fmt.Sprintf("auth setup: %s got no answer within %v", describe(req), clientTimeout))
			return
		}
		if failure != nil {
			s.fail(fmt.Sprintf("auth setup: %s: %v", describe(req), failure))
			return
		}
	}
}
