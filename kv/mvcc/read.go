package mvcc

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// maxNextsBeforeSeek bounds how many older versions of one key a range steps over with Next
// before it seeks to the next key: a few Nexts are cheaper than a seek, a long history is not.
const maxNextsBeforeSeek = 3

// Range answers an etcd RangeRequest from r (the DB, a snapshot or an indexed batch), at the
// revisions stored in r.
func (s *Store) Range(r pebble.Reader, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := validateRange(req); err != nil {
		return nil, err
	}
	it, st, err := openView(r)
	if err != nil {
		return nil, err
	}
	return rangeAndClose(it, st, req)
}

// RangeApplied answers req from db at the revisions of the store's last write call, without
// reading them from db: for a member's own reads, which run on its one goroutine between
// its write calls, on the DB those calls' batches were committed to, so that db holds
// exactly those revisions (as beginWrite relies on). Range's view iterator reads the state
// key first, a seek through every level: 6% of the simulator's BenchmarkSteady1000. Every
// stateCheckEvery-th call (every call in the package's tests) still reads db's revisions
// and panics if they differ.
//
// A read of one key at the current revision goes through the latest-version cache
// (latest.go), which holds the store at that revision for the same reason: every write
// call updated it, and their batches are committed. A hit opens no Pebble iterator at all
// (a member's reads were 8% of BenchmarkSteady1000 here, nearly all of them one key); a
// miss reads db and fills the cache.
func (s *Store) RangeApplied(db pebble.Reader, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := validateRange(req); err != nil {
		return nil, err
	}
	st := state{currentRev: s.currentRev.Load(), compactRev: s.compactRev.Load()}
	if s.appliedReads.Add(1)%stateCheckEvery == 0 {
		stored, err := readState(db)
		if err != nil {
			return nil, err
		}
		if stored != st {
			panic(fmt.Sprintf("mvcc: RangeApplied: the DB holds revisions %+v, the store's copy %+v: a read during a write call, or on another DB", stored, st))
		}
	}
	if len(req.GetRangeEnd()) == 0 {
		// one key: the non-fixed versions open an iterator only on a cache miss
		return executeRange(versions{r: db, latest: &s.latest, latestRev: st.currentRev}, st.currentRev, st.compactRev, req)
	}
	it, err := db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	return rangeAndClose(it, st, req)
}

// rangeAndClose answers req through the view iterator it at st's revisions, then closes it.
func rangeAndClose(it *pebble.Iterator, st state, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	resp, err := executeRange(versions{fixed: it}, st.currentRev, st.compactRev, req)
	if cerr := it.Close(); err == nil && cerr != nil {
		return nil, cerr
	}
	return resp, err
}

// versions reads the k/ index, either through one fixed iterator (a read's point-in-time
// view, re-bounded per call) or through a fresh iterator per call on r (a write's indexed
// batch, which grows between calls). In a write transaction applyWrite runs, txn is set:
// a read of one key at the begin revision, before the transaction changed anything (a
// put's previous version, a compare, a range in a txn's branch), goes through the store's
// latest-version cache (latest.go). Outside a transaction, latest is that cache when r is
// the store at revision latestRev (RangeApplied's DB), for the reads of one key at it.
type versions struct {
	fixed     *pebble.Iterator
	r         pebble.Reader
	txn       *writeTxn
	latest    *latestCache
	latestRev int64
}

func (v versions) rangeKeys(key, end []byte, atRev int64, limit int64, countOnly bool) ([]*mvccpb.KeyValue, int, error) {
	if v.fixed != nil {
		return rangeKeys(v.fixed, key, end, atRev, limit, countOnly)
	}
	cache := v.latestCache(end, atRev)
	if cache != nil {
		if kv, ok := cache.get(key); ok {
			return oneKey(kv, countOnly)
		}
	}
	it, err := v.r.NewIter(nil)
	if err != nil {
		return nil, 0, err
	}
	kvs, n, err := rangeKeys(it, key, end, atRev, limit, countOnly)
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if cache != nil && err == nil && !countOnly {
		var kv *mvccpb.KeyValue
		if len(kvs) > 0 {
			kv = kvs[0]
		}
		cache.put(key, kv)
	}
	return kvs, n, err
}

// latestCache is the cache a read of [key, end) at atRev may use, nil if none: one key
// (end nil), at the begin revision of a write transaction that has changed nothing yet or
// at RangeApplied's revision, when what the cache holds (the store at its current
// revision) is what the read sees.
func (v versions) latestCache(end []byte, atRev int64) *latestCache {
	if end != nil {
		return nil
	}
	w := v.txn
	if w == nil {
		if v.latest != nil && atRev == v.latestRev {
			return v.latest
		}
		return nil
	}
	if w.latestCache == nil || w.changes != 0 || atRev != w.begin.currentRev {
		return nil
	}
	return w.latestCache
}

// oneKey is rangeKeys's answer for one key whose live version is kv (nil: none).
func oneKey(kv *mvccpb.KeyValue, countOnly bool) ([]*mvccpb.KeyValue, int, error) {
	switch {
	case kv == nil:
		return nil, 0, nil
	case countOnly:
		return nil, 1, nil
	}
	return []*mvccpb.KeyValue{kv}, 1, nil
}

// executeRange is etcd's executeRange: curRev is the revision reported in the header and
// the one read when the request names none.
func executeRange(v versions, curRev, compactRev int64, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	atRev := req.GetRevision()
	if atRev > curRev {
		return nil, ErrFutureRev
	}
	if atRev <= 0 {
		atRev = curRev
	}
	if atRev < compactRev {
		return nil, ErrCompacted
	}
	limit := req.GetLimit()
	if req.GetSortOrder() != pb.RangeRequest_NONE ||
		req.GetMinModRevision() != 0 || req.GetMaxModRevision() != 0 ||
		req.GetMinCreateRevision() != 0 || req.GetMaxCreateRevision() != 0 {
		// Filters and sorting need every key; truncate afterwards. As in etcd, a sort target
		// with order NONE does not count: it sorts only the limit+1 keys fetched in key order.
		limit = 0
	}
	if limit > 0 {
		limit++ // one more than asked tells whether there is more
	}
	kvs, count, err := v.rangeKeys(req.GetKey(), normalizeRangeEnd(req.GetRangeEnd()), atRev, limit, req.GetCountOnly())
	if err != nil {
		return nil, err
	}
	kvs = filterKVs(kvs, req)
	sortKVs(kvs, req.GetSortOrder(), req.GetSortTarget())
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: curRev}, Count: int64(count)}
	if req.GetLimit() > 0 && int64(len(kvs)) > req.GetLimit() {
		kvs = kvs[:req.GetLimit()]
		resp.More = true
	}
	if req.GetKeysOnly() {
		// etcd v3.7 answers keys_only from its key index unless it sorts by value, and that
		// index has no lease: such answers carry key, revisions and version only.
		fast := req.GetSortTarget() != pb.RangeRequest_VALUE
		for _, kv := range kvs {
			kv.Value = nil
			if fast {
				kv.Lease = 0
			}
		}
	}
	resp.Kvs = kvs
	return resp, nil
}

func filterKVs(kvs []*mvccpb.KeyValue, req *pb.RangeRequest) []*mvccpb.KeyValue {
	minMod, maxMod := req.GetMinModRevision(), req.GetMaxModRevision()
	minCreate, maxCreate := req.GetMinCreateRevision(), req.GetMaxCreateRevision()
	if minMod == 0 && maxMod == 0 && minCreate == 0 && maxCreate == 0 {
		return kvs
	}
	kept := kvs[:0]
	for _, kv := range kvs {
		switch {
		case maxMod != 0 && kv.ModRevision > maxMod:
		case minMod != 0 && kv.ModRevision < minMod:
		case maxCreate != 0 && kv.CreateRevision > maxCreate:
		case minCreate != 0 && kv.CreateRevision < minCreate:
		default:
			kept = append(kept, kv)
		}
	}
	return kept
}

// sortKVs applies etcd's sort rules to kvs, which arrive in ascending key order: a target
// other than KEY with order NONE sorts ascending; KEY ascending is the arrival order. Unlike
// etcd (sort.Sort, unstable) the sort is stable, so keys that tie on the target stay in
// ascending key order whatever the direction: the same answer on every member and Go version.
func sortKVs(kvs []*mvccpb.KeyValue, order pb.RangeRequest_SortOrder, target pb.RangeRequest_SortTarget) {
	if target != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if order == pb.RangeRequest_NONE || (target == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND) {
		return
	}
	cmp := func(a, b *mvccpb.KeyValue) int {
		switch target {
		case pb.RangeRequest_KEY:
			return bytes.Compare(a.Key, b.Key)
		case pb.RangeRequest_VERSION:
			return compareInt64(a.Version, b.Version)
		case pb.RangeRequest_CREATE:
			return compareInt64(a.CreateRevision, b.CreateRevision)
		case pb.RangeRequest_MOD:
			return compareInt64(a.ModRevision, b.ModRevision)
		case pb.RangeRequest_VALUE:
			return bytes.Compare(a.Value, b.Value)
		}
		panic(fmt.Sprintf("mvcc: sort target %d passed validation", target))
	}
	if order == pb.RangeRequest_DESCEND {
		sort.SliceStable(kvs, func(i, j int) bool { return cmp(kvs[i], kvs[j]) > 0 })
		return
	}
	sort.SliceStable(kvs, func(i, j int) bool { return cmp(kvs[i], kvs[j]) < 0 })
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rangeKeys visits, for every key in [key, end) (normalizeRangeEnd's convention), its newest
// version with main revision <= atRev, and returns the live ones: at most limit of them
// decoded (limit <= 0: all; countOnly: none) and the number of live keys in total.
func rangeKeys(it *pebble.Iterator, key, end []byte, atRev int64, limit int64, countOnly bool) ([]*mvccpb.KeyValue, int, error) {
	var kvs []*mvccpb.KeyValue
	var dec kvDecoder
	count := 0
	err := visitNewest(it, key, end, atRev, func(_ []byte, _ revision, value []byte) error {
		if value[0] != kindPut {
			return nil
		}
		count++
		if countOnly || (limit > 0 && int64(len(kvs)) >= limit) {
			return nil
		}
		kv, err := dec.decode(value)
		if err != nil {
			return err
		}
		kvs = append(kvs, kv)
		return nil
	})
	return kvs, count, err
}

// visitNewest calls fn, in key order, with the newest version (main <= atRev) of every key
// in [key, end) that has one, tombstones included. keyPrefix and value are valid only during
// the call. It re-bounds it and leaves it open.
func visitNewest(it *pebble.Iterator, key, end []byte, atRev int64, fn func(keyPrefix []byte, rev revision, value []byte) error) error {
	lower, upper := versionBounds(key, end)
	if bytes.Compare(lower, upper) >= 0 {
		return nil
	}
	it.SetBounds(lower, upper)
	var current, seekBuf []byte
	valid := it.First()
	for valid {
		kp, rev := splitVersionKey(it.Key())
		current = append(current[:0], kp...)
		if rev.main > atRev {
			seekBuf = seekAtOrBelow(seekBuf[:0], current, atRev)
			if !it.SeekGE(seekBuf) {
				break
			}
			kp, rev = splitVersionKey(it.Key())
			if !bytes.Equal(kp, current) {
				continue // the key has no version at or below atRev
			}
		}
		value, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if len(value) == 0 {
			return fmt.Errorf("mvcc: empty record at %q", it.Key())
		}
		if err := fn(current, rev, value); err != nil {
			return err
		}
		if end == nil {
			break // a single key: nothing follows
		}
		valid = nextKey(it, current, &seekBuf)
	}
	return it.Error()
}

// nextKey moves it from a version of the key whose prefix is current to the newest version
// of the next key, stepping over a few older versions before falling back to a seek.
func nextKey(it *pebble.Iterator, current []byte, seekBuf *[]byte) bool {
	for i := 0; i < maxNextsBeforeSeek; i++ {
		if !it.Next() {
			return false
		}
		kp, _ := splitVersionKey(it.Key())
		if !bytes.Equal(kp, current) {
			return true
		}
	}
	*seekBuf = keyPrefixSuccessor((*seekBuf)[:0], current)
	return it.SeekGE(*seekBuf)
}

func closeIter(it *pebble.Iterator) error {
	err := it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

func encodeRecord(kind byte, kv *mvccpb.KeyValue) []byte { return appendRecord(nil, kind, kv) }

// appendRecord appends the stored record of kv (kind, then the marshaled KeyValue) to dst.
func appendRecord(dst []byte, kind byte, kv *mvccpb.KeyValue) []byte {
	dst = append(dst, kind)
	dst, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(dst, kv)
	if err != nil {
		panic(fmt.Sprintf("mvcc: marshal KeyValue: %v", err))
	}
	return dst
}

func decodeRecord(value []byte) (*mvccpb.KeyValue, error) {
	kv := &mvccpb.KeyValue{}
	if err := proto.Unmarshal(value[1:], kv); err != nil {
		return nil, fmt.Errorf("mvcc: decode record: %w", err)
	}
	return kv, nil
}
