package embed

import (
	"log/slog"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/node"
)

// DefaultWarningApplyDuration is etcd's --warning-apply-duration.
const DefaultWarningApplyDuration = 100 * time.Millisecond

// warnOfExpensiveRequest is kv/node's Config.TimeApply: it times each request's apply with
// the wall clock (here, outside the code the simulator runs) and, when it took longer than
// warn, logs etcd's warning (etcdserver/txn's WarnOfExpensiveRequest) with its fields: the
// request as etcd's InternalRaftStringer prints it (values redacted to their sizes), the
// response as its size.
func warnOfExpensiveRequest(lg *slog.Logger, warn time.Duration) func(*pb.InternalRaftRequest) func(node.Response, error) {
	return func(req *pb.InternalRaftRequest) func(node.Response, error) {
		start := time.Now()
		return func(resp node.Response, err error) {
			took := time.Since(start)
			if took <= warn {
				return
			}
			var size string
			if m := responseMessage(resp); m != nil {
				size = "size:" + strconv.Itoa(proto.Size(m))
			}
			args := []any{"took", took.String(), "expected-duration", warn.String(), "prefix", "",
				"request", (&pb.InternalRaftStringer{Request: req}).String(), "response", size}
			if err != nil {
				args = append(args, "error", err.Error())
			}
			lg.Warn("apply request took too long", args...)
		}
	}
}

// responseMessage is the answer's message, nil when the request has none (an error).
func responseMessage(r node.Response) proto.Message {
	for _, m := range []proto.Message{r.Range, r.Put, r.DeleteRange, r.Txn, r.Compaction, r.LeaseGrant, r.LeaseRevoke, r.Alarm} {
		if m.ProtoReflect().IsValid() {
			return m
		}
	}
	if m, ok := r.Auth.(proto.Message); ok && m.ProtoReflect().IsValid() {
		return m
	}
	return nil
}
