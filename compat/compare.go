package compat

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// compareOutcomes compares one call's answers field by field after the normalisations of
// ignored.go. It returns both texts and the path of the first difference ("" when equal),
// and the name of the intended difference it accepted, if any.
func compareOutcomes(c *call, e, b *sideState, eo, bo outcome) (etcdText, ballastText, path, exception string) {
	etcdText, ballastText = eo.text(), bo.text()
	// HashKV below the compact revision: etcd may answer from its cached hashes.
	if c.kind == kindHashKV && c.note == "compacted revision" && eo.err == nil && bo.err != nil &&
		status.Convert(bo.err).Message() == status.Convert(rpctypes.ErrGRPCCompacted).Message() {
		return etcdText, ballastText, "", exceptionHashCache
	}
	if p := compareErrors(eo.err, bo.err); p != "" {
		return etcdText, ballastText, p, ""
	}
	if (eo.resp == nil) != (bo.resp == nil) {
		return etcdText, ballastText, "response", ""
	}
	if eo.resp != nil {
		en, bn := normalize(eo.resp, e), normalize(bo.resp, b)
		if c.kind == kindHashKV {
			eh, bh := en.(*pb.HashKVResponse), bn.(*pb.HashKVResponse)
			switch {
			case eh.CompactRevision < bh.CompactRevision:
				// etcd answered from the hash it cached when it compacted at this revision,
				// taken with the compact revision before.
				eh.Hash, bh.Hash, eh.CompactRevision, bh.CompactRevision = 0, 0, 0, 0
				exception = exceptionHashCache
			case eo.noLiveKey:
				eh.Hash, bh.Hash = 0, 0
				exception = exceptionHashEmpty
			}
		}
		if c.kind == kindSnapshot && dropTombstoneAtCompact(en.(*pb.TxnResponse)) {
			exception = exceptionSnapshotTombstone
		}
		if p := diff(en.ProtoReflect(), bn.ProtoReflect(), string(en.ProtoReflect().Descriptor().Name())); p != "" {
			return etcdText, ballastText, p, ""
		}
	}
	if c.startAtCompact && len(eo.items) == 1 && len(bo.items) == 2 && !isCanceled(eo.items[0]) &&
		bo.items[1].(*pb.WatchResponse).CompactRevision == c.req.(*pb.WatchCreateRequest).StartRevision+1 {
		if p := diffNormalized(eo.items[0], bo.items[0], e, b); p != "" {
			return etcdText, ballastText, "watch item [0] " + p, ""
		}
		return etcdText, ballastText, "", exceptionWatchAtCompact
	}
	for _, it := range append(slices.Clone(eo.items), bo.items...) {
		if w := it.(*pb.WatchResponse); w.CompactRevision != 0 && w.Header != nil && w.Header.Revision != 0 {
			exception = exceptionCompactedHeader
		}
	}
	if len(eo.items) != len(bo.items) {
		n := min(len(eo.items), len(bo.items))
		for i := range n {
			if p := diffNormalized(eo.items[i], bo.items[i], e, b); p != "" {
				return etcdText, ballastText, fmt.Sprintf("watch item [%d] %s", i, p), ""
			}
		}
		return etcdText, ballastText, fmt.Sprintf("watch transcript: %d items against %d (first missing or extra item [%d])", len(eo.items), len(bo.items), n), ""
	}
	for i := range eo.items {
		if p := diffNormalized(eo.items[i], bo.items[i], e, b); p != "" {
			return etcdText, ballastText, fmt.Sprintf("watch item [%d] %s", i, p), ""
		}
	}
	if (eo.progress == nil) != (bo.progress == nil) {
		return etcdText, ballastText, "watch progress notification", ""
	}
	if eo.progress != nil {
		if p := diffNormalized(eo.progress, bo.progress, e, b); p != "" {
			return etcdText, ballastText, "watch progress notification " + p, ""
		}
	}
	if (eo.periodic == nil) != (bo.periodic == nil) {
		return etcdText, ballastText, "watch periodic progress notification", ""
	}
	if eo.periodic != nil {
		if p := diffNormalized(eo.periodic, bo.periodic, e, b); p != "" {
			return etcdText, ballastText, "watch periodic progress notification " + p, ""
		}
	}
	if eo.fragments != bo.fragments {
		return etcdText, ballastText, "how big revisions arrived: " + eo.fragments + " / " + bo.fragments, ""
	}
	if eo.order != bo.order {
		return etcdText, ballastText, "watch order: " + eo.order + " / " + bo.order, ""
	}
	if eo.stall != bo.stall {
		return etcdText, ballastText, "what arrived in time: " + eo.stall + " / " + bo.stall, ""
	}
	return etcdText, ballastText, "", exception
}

func diffNormalized(a, b proto.Message, e, bs *sideState) string {
	an, bn := normalize(a, e), normalize(b, bs)
	// The header revision of a compacted watch's response (see intendedDifferences).
	for _, m := range []proto.Message{an, bn} {
		if w, ok := m.(*pb.WatchResponse); ok && w.CompactRevision != 0 && w.Header != nil {
			w.Header.Revision = 0
		}
	}
	return diff(an.ProtoReflect(), bn.ProtoReflect(), string(an.ProtoReflect().Descriptor().Name()))
}

// compareErrors compares two gRPC errors by code and message ("" when both nil or equal).
func compareErrors(a, b error) string {
	if a == nil && b == nil {
		return ""
	}
	if a == nil || b == nil {
		return "error"
	}
	sa, _ := status.FromError(a)
	sb, _ := status.FromError(b)
	if sa.Code() != sb.Code() {
		return "error code"
	}
	if sa.Message() != sb.Message() {
		return "error message"
	}
	return ""
}

// normalize returns a copy of msg with the ignored fields cleared and the mapped ones
// mapped (s names its side's IDs and URLs), unordered lists sorted.
func normalize(msg proto.Message, s *sideState) proto.Message {
	out := proto.Clone(msg)
	walk(out.ProtoReflect(), s)
	switch r := out.(type) {
	case *pb.MemberListResponse:
		slices.SortFunc(r.Members, func(a, b *pb.Member) int { return strings.Compare(a.Name, b.Name) })
	case *pb.LeaseLeasesResponse:
		slices.SortFunc(r.Leases, func(a, b *pb.LeaseStatus) int { return cmp.Compare(a.ID, b.ID) })
	case *pb.LeaseTimeToLiveResponse:
		slices.SortFunc(r.Keys, bytes.Compare)
	case *pb.AuthenticateResponse:
		if shape := shapedFields["etcdserverpb.AuthenticateResponse.token"].shape(r.Token, s.cfg); shape != "" {
			r.Token = shape
		}
	}
	return out
}

func walk(m protoreflect.Message, s *sideState) {
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	for _, fd := range fields {
		name := string(fd.FullName())
		if _, ok := ignoredFields[name]; ok {
			m.Clear(fd)
			continue
		}
		if _, ok := mappedFields[name]; ok {
			switch {
			case fd.IsList():
				l := m.Mutable(fd).List()
				for i := range l.Len() {
					u := l.Get(i).String()
					if n, ok := s.urls[u]; ok {
						l.Set(i, protoreflect.ValueOfString(n))
					}
				}
			case fd.Kind() == protoreflect.Uint64Kind:
				if n, ok := s.ids[m.Get(fd).Uint()]; ok {
					m.Set(fd, protoreflect.ValueOfUint64(n))
				}
			}
			continue
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := m.Get(fd).List()
			for i := range l.Len() {
				walk(l.Get(i).Message(), s)
			}
		case fd.Message() != nil && !fd.IsMap():
			walk(m.Get(fd).Message(), s)
		}
	}
}

// diff returns the path of the first field where a and b differ ("" when equal), comparing
// the tolerated fields within their tolerance.
func diff(a, b protoreflect.Message, path string) string {
	fields := a.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		p := path + "." + string(fd.Name())
		va, vb := a.Get(fd), b.Get(fd)
		if a.Has(fd) != b.Has(fd) && fd.Message() == nil {
			return p
		}
		switch {
		case fd.IsList():
			la, lb := va.List(), vb.List()
			if la.Len() != lb.Len() {
				return fmt.Sprintf("%s (%d entries against %d)", p, la.Len(), lb.Len())
			}
			for j := range la.Len() {
				q := fmt.Sprintf("%s[%d]", p, j)
				if fd.Message() != nil {
					if d := diff(la.Get(j).Message(), lb.Get(j).Message(), q); d != "" {
						return d
					}
				} else if !scalarEqual(fd, la.Get(j), lb.Get(j)) {
					return q
				}
			}
		case fd.IsMap():
			if !proto.Equal(a.Interface(), b.Interface()) {
				return p
			}
		case fd.Message() != nil:
			if a.Has(fd) != b.Has(fd) {
				return p + " (set on one side only)"
			}
			if a.Has(fd) {
				if d := diff(va.Message(), vb.Message(), p); d != "" {
					return d
				}
			}
		default:
			if tol, ok := toleratedFields[string(fd.FullName())]; ok {
				if d := va.Int() - vb.Int(); d > tol || d < -tol {
					return fmt.Sprintf("%s (beyond the tolerance of %d)", p, tol)
				}
				continue
			}
			if !scalarEqual(fd, va, vb) {
				return p
			}
		}
	}
	// A oneof's unset members are covered above: Has differs.
	return ""
}

func scalarEqual(fd protoreflect.FieldDescriptor, a, b protoreflect.Value) bool {
	if fd.Kind() == protoreflect.BytesKind {
		return bytes.Equal(a.Bytes(), b.Bytes())
	}
	return a.Equal(b)
}

// dropTombstoneAtCompact removes from etcd's snapshot digest (snapshot.go) the tombstones at
// exactly the compact revision, which etcd v3.7 keeps in its key bucket and Ballast's
// compaction does not (see intendedDifferences); it reports whether there was one.
func dropTombstoneAtCompact(d *pb.TxnResponse) bool {
	keys := d.Responses[0].GetResponseRange()
	before := len(keys.Kvs)
	keys.Kvs = slices.DeleteFunc(keys.Kvs, func(kv *mvccpb.KeyValue) bool {
		return kv.CreateRevision == 0 && kv.ModRevision == d.Header.Revision
	})
	keys.Count = int64(len(keys.Kvs))
	return len(keys.Kvs) != before
}
