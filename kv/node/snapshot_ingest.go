package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ballastdb/ballast/raft"
)

// The follower's stage as SSTables, and the install as one Pebble ingest.
//
// Staging: the pairs of a stream arrive in order, span by span (stateMachineSpans' order),
// each span's keys ascending. They are written into SSTables in the stage directory
// (stageDirName inside the member's Dir, on its FS), one table at a time: a table holds keys
// of one span only and is finished once it reaches Config.snapshotTableBytes, at the end of
// its span, or at the end of the stream. Each table also holds one range deletion, from
// where the previous table of its span ended (the span's start for the first) to just past
// its last key (the span's end for the last), so the tables' range deletions tile every
// state-machine span exactly, empty spans included (a table with only the deletion). The
// member holds one open writer: memory is bounded by the chunk size plus one table's index
// and filter, whatever the snapshot's size.
//
// Installing (writeReady, for a Ready whose snapshot raft took): one more table holds
// node/applied = the snapshot's index and node/applied-snapshot = its metadata, and every
// table is ingested in one DB.Ingest. An ingest is atomic (one MANIFEST edit, synced, the
// tables synced before it) and every key of it gets one sequence number above every key in
// the DB: the range deletions remove every old state-machine key, the tables' own keys at
// that sequence number survive them. So after a crash the store is either the old one with
// its applied index, or the new one with the snapshot's: never a mix. The raft half (the
// log reset to the snapshot, ApplySnapshot) follows in the Ready's batch, which also deletes
// node/applied-snapshot; a crash between the ingest and that batch's sync leaves the key,
// and Open finishes the raft half from it (finishPendingInstall) before raft starts. Tables
// left in the stage directory by a crash or an abandoned stream are removed at Open.

// tableWriterOptions are the options of the tables a stage writes: those Pebble writes its
// own L0 tables with (opts' comparer, block sizes and compression), in the newest table
// format the DB reads.
func tableWriterOptions(opts *pebble.Options, db *pebble.DB) sstable.WriterOptions {
	opts = opts.Clone()
	opts.EnsureDefaults()
	return opts.MakeWriterOptions(0, db.TableFormat())
}

// stageDirName is the directory, inside the member's Dir, holding a stage's SSTables.
const stageDirName = "snapshot-stage"

// defaultSnapshotTableBytes bounds one staged SSTable (it ends after the pair that crosses it).
const defaultSnapshotTableBytes = 64 << 20

// nodePendingInstallKey holds the metadata of a snapshot whose data is ingested and whose
// raft half is not yet written (see above). It sorts between node/applied and node/boot, so
// the install's last table, [node/applied, node/applied-snapshot], overlaps no other.
var nodePendingInstallKey = []byte("node/applied-snapshot")

// errStageOrder is a stream whose pairs are not in the order the stage writes them.
var errStageOrder = errors.New("snapshot pairs out of order")

// sstStage is the follower's stage: the tables written so far and the one being written.
type sstStage struct {
	fs       vfs.FS
	dir      string
	wopts    sstable.WriterOptions
	maxBytes uint64

	files []string        // finished tables, in order
	made  int             // tables created since Open (their names)
	w     *sstable.Writer // the table being written (nil: none open)
	wPath string
	span  int    // the span being staged (len(stateMachineSpans): all of them done)
	lo    []byte // where the range deletion of the next table of span starts
	last  []byte // the last key staged in span (nil: none yet)
	// clusterID is the staged node/cluster/id (0 if none was staged).
	clusterID uint64
	bytes     uint64 // key and value bytes staged
	pairs     int    // pairs staged
}

func newSSTStage(fs vfs.FS, dir string, wopts sstable.WriterOptions, maxBytes int) *sstStage {
	s := &sstStage{fs: fs, dir: dir, wopts: wopts, maxBytes: uint64(maxBytes)}
	s.start()
	return s
}

// clearStageDir removes every file left in the stage directory and creates it if missing.
func clearStageDir(fs vfs.FS, dir string) error {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create snapshot stage dir %s: %w", dir, err)
	}
	names, err := fs.List(dir)
	if err != nil {
		return fmt.Errorf("list snapshot stage dir %s: %w", dir, err)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := fs.RemoveAll(fs.PathJoin(dir, n)); err != nil {
			return fmt.Errorf("clear snapshot stage: %w", err)
		}
	}
	return nil
}

// start empties the stage state (the files are the caller's to remove).
func (s *sstStage) start() {
	s.files, s.w, s.wPath = nil, nil, ""
	s.span, s.lo, s.last = 0, stateMachineSpans[0].lo, nil
	s.clusterID, s.bytes, s.pairs = 0, 0, 0
}

// reset drops whatever is staged: the open table and every finished one.
func (s *sstStage) reset() error {
	var errs []error
	if s.w != nil {
		errs = append(errs, s.w.Close(), s.fs.Remove(s.wPath))
	}
	for _, f := range s.files {
		errs = append(errs, s.fs.Remove(f))
	}
	s.start()
	return errors.Join(errs...)
}

// tables is the number of tables the stage holds, finished or open.
func (s *sstStage) tables() int {
	if s.w != nil {
		return len(s.files) + 1
	}
	return len(s.files)
}

func spanIndex(key []byte) int {
	for i, sp := range stateMachineSpans {
		if bytes.Compare(key, sp.lo) >= 0 && bytes.Compare(key, sp.hi) < 0 {
			return i
		}
	}
	return -1
}

// checkOrder reports, as errStageOrder, a pair that cannot follow what is staged.
func (s *sstStage) checkOrder(key []byte) error {
	sp := spanIndex(key)
	switch {
	case sp < 0:
		return fmt.Errorf("%w: key %q is not state-machine data", errStageOrder, key)
	case sp < s.span:
		return fmt.Errorf("%w: key %q after the span of %q was complete", errStageOrder, key, stateMachineSpans[sp].lo)
	case sp == s.span && s.last != nil && bytes.Compare(key, s.last) <= 0:
		return fmt.Errorf("%w: key %q after %q", errStageOrder, key, s.last)
	}
	return nil
}

// add stages one pair (checked by checkOrder first).
func (s *sstStage) add(key, value []byte) error {
	sp := spanIndex(key)
	if err := s.finishSpansBefore(sp); err != nil {
		return err
	}
	if s.w == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if err := s.w.Set(key, value); err != nil {
		return fmt.Errorf("write snapshot table: %w", err)
	}
	s.last = append(s.last[:0], key...)
	s.bytes += uint64(len(key) + len(value))
	s.pairs++
	if bytes.Equal(key, nodeClusterIDKey) && len(value) == 8 {
		s.clusterID = binary.BigEndian.Uint64(value)
	}
	if s.w.Raw().EstimatedSize() >= s.maxBytes {
		// the next table of the span deletes from just past this key
		return s.finish(append(slices.Clone(key), 0))
	}
	return nil
}

// complete finishes every span: the stream's last chunk is staged.
func (s *sstStage) complete() error { return s.finishSpansBefore(len(stateMachineSpans)) }

// finishSpansBefore ends the spans before span sp: the open table's (if any) deletes to its
// span's end, and a span without a table gets one with just its range deletion.
func (s *sstStage) finishSpansBefore(sp int) error {
	for s.span < sp {
		if s.w == nil {
			if err := s.open(); err != nil {
				return err
			}
		}
		if err := s.finish(stateMachineSpans[s.span].hi); err != nil {
			return err
		}
		s.span++
		if s.span < len(stateMachineSpans) {
			s.lo = stateMachineSpans[s.span].lo
		}
		s.last = nil
	}
	return nil
}

func (s *sstStage) open() error {
	s.made++
	path := s.fs.PathJoin(s.dir, fmt.Sprintf("%06d.sst", s.made))
	f, err := s.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("create snapshot table: %w", err)
	}
	s.w, s.wPath = sstable.NewWriter(objstorageprovider.NewFileWritable(f), s.wopts), path
	return nil
}

// finish ends the open table with the range deletion [s.lo, end), syncs and closes it, and
// makes end where the next table's deletion starts.
func (s *sstStage) finish(end []byte) error {
	w := s.w
	s.w = nil
	if err := w.DeleteRange(s.lo, end); err != nil {
		_ = w.Close()
		return fmt.Errorf("write snapshot table: %w", err)
	}
	if err := w.Close(); err != nil { // syncs the file
		return fmt.Errorf("finish snapshot table: %w", err)
	}
	s.files = append(s.files, s.wPath)
	s.lo = end
	return nil
}

// ingest writes the install's last table (the applied index and the pending install) and
// ingests every table in one atomic DB.Ingest, which removes them from the stage directory.
func (s *sstStage) ingest(db *pebble.DB, meta raft.SnapshotMetadata) error {
	if s.span != len(stateMachineSpans) || s.w != nil {
		panic(fmt.Sprintf("snapshot stage at span %d (writer open %t) ingested before it was complete", s.span, s.w != nil))
	}
	if err := s.open(); err != nil {
		return err
	}
	w := s.w
	s.w = nil
	if err := errors.Join(
		w.Set(nodeAppliedKey, binary.BigEndian.AppendUint64(nil, meta.Index)),
		w.Set(nodePendingInstallKey, encodePendingInstall(meta)),
	); err != nil {
		_ = w.Close()
		return fmt.Errorf("write snapshot table: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("finish snapshot table: %w", err)
	}
	s.files = append(s.files, s.wPath)
	if err := db.Ingest(context.Background(), s.files); err != nil {
		return fmt.Errorf("ingest %d snapshot tables: %w", len(s.files), err)
	}
	s.start()
	return nil
}

// encodePendingInstall encodes a snapshot's metadata: index, term, then the voters and the
// learners, each a count and the IDs (uvarints).
func encodePendingInstall(meta raft.SnapshotMetadata) []byte {
	out := binary.AppendUvarint(nil, meta.Index)
	out = binary.AppendUvarint(out, meta.Term)
	for _, ids := range [][]uint64{meta.ConfState.Voters, meta.ConfState.Learners} {
		out = binary.AppendUvarint(out, uint64(len(ids)))
		for _, id := range ids {
			out = binary.AppendUvarint(out, id)
		}
	}
	return out
}

func decodePendingInstall(v []byte) (raft.SnapshotMetadata, error) {
	var err error
	next := func() uint64 {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			err = fmt.Errorf("%s is truncated", nodePendingInstallKey)
			return 0
		}
		v = v[n:]
		return x
	}
	var meta raft.SnapshotMetadata
	meta.Index, meta.Term = next(), next()
	for _, ids := range []*[]uint64{&meta.ConfState.Voters, &meta.ConfState.Learners} {
		n := next()
		if n > uint64(len(v)) {
			return meta, fmt.Errorf("%s names %d members in %d bytes", nodePendingInstallKey, n, len(v))
		}
		for range n {
			*ids = append(*ids, next())
		}
	}
	if err == nil && len(v) > 0 {
		err = fmt.Errorf("%s has %d bytes past its end", nodePendingInstallKey, len(v))
	}
	if err == nil && (meta.Index == 0 || meta.Term == 0) {
		err = fmt.Errorf("%s names index %d term %d", nodePendingInstallKey, meta.Index, meta.Term)
	}
	return meta, err
}

// finishPendingInstall (at Open, once the raft log is open) writes the raft half of a
// snapshot whose ingest a crash left without it: the log reset to the snapshot, and a hard
// state whose commit reaches the snapshot's index (its entries are committed: a leader
// sent them) and whose term is at least its term (a term raised here carries no vote).
func (m *Member) finishPendingInstall() error {
	v, closer, err := m.db.Get(nodePendingInstallKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", nodePendingInstallKey, err)
	}
	meta, err := decodePendingInstall(v)
	_ = closer.Close()
	if err != nil {
		return err
	}
	b := m.db.NewBatch()
	defer b.Close()
	held, err := m.log.Snapshot()
	if err != nil {
		return err
	}
	if meta.Index > held.Metadata.Index {
		if err := m.log.ApplySnapshot(b, meta); err != nil {
			return fmt.Errorf("finish the install of snapshot %d: %w", meta.Index, err)
		}
		hs := m.log.HardState()
		if hs.Term < meta.Term {
			hs.Term, hs.Vote = meta.Term, raft.None
		}
		hs.Commit = max(hs.Commit, meta.Index)
		if err := m.log.SetHardState(b, hs); err != nil {
			return err
		}
		m.logf("finished installing the snapshot at index %d (term %d) a crash interrupted", meta.Index, meta.Term)
	}
	if err := b.Delete(nodePendingInstallKey, nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("finish the install of snapshot %d: %w", meta.Index, err)
	}
	return nil
}
