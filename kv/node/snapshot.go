package node

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ballastdb/ballast/kv/auth"
	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/raft"
)

// Snapshots, the leader's side, and raft log compaction (the follower's side is
// snapshot_stage.go; the protocol for both is below).
//
// A raft snapshot here is metadata (index, term, configuration) recorded by kv/raftlog; its
// data is the store itself. The data a follower receives must be the store at exactly the
// metadata's index, so it is read from a Pebble snapshot taken when this member's applied
// index equals that index: lazily, when a stream starts (snapshotSource), never at
// compaction time, so no Pebble snapshot pins old data while nobody needs one.

// Compaction: between Readies (raft's applied index and configuration then equal the
// member's), once the log holds more than Config.SnapshotEntries applied entries beyond the
// last snapshot, the member records a snapshot at its applied index (raftlog.CreateSnapshot
// with raft's configuration) and compacts the log below it, keeping
// SnapshotCatchUpEntries entries for followers a little behind, in one unsynced batch (a
// crash loses at most the compaction; the WAL's order keeps it behind the applied state it
// names).
//
// What moves: the state machine is every key under lease/, mvcc/, node/cluster/ (the member
// table, removed IDs, cluster ID and alarms) and node/req/ (the dedup
// window: which requests applied is applied state); node/applied is set to the snapshot's
// index; raft/, node/format and node/boot belong to the member and never move.
//
// Sending: raft's MsgSnap carries only metadata, and the data must be the store at exactly
// its index. The member intercepts raft's MsgSnap and, at the start of the next Work (no
// Ready outstanding, so the applied index is raft's), starts a stream reading a Pebble
// snapshot taken right then: if the log's snapshot is older than the applied index, a new
// one is recorded at the applied index first, so the data and the metadata name the same
// index. A source is shared by the streams that start while the log still continues from
// it, and closed when its last stream ends: no Pebble snapshot outlives the streams that
// read it. A stream sends chunks of at most 1 MiB of pairs (plus one pair), in key order,
// as checksummed frames (frameSnapChunk: leader, stream ID, index, term, chunk number, last
// flag, pairs); the follower acknowledges each (frameSnapAck). At most snapshotWindowChunks
// are unacknowledged, so the leader holds a bounded number of chunks whatever the store's
// size. Without an acknowledgement for half an election timeout the leader sends again
// from the first unacknowledged chunk (go-back-N); without one for snapshotTimeoutElections
// election timeouts, or on a refusal, it ends the stream and reports
// ReportSnapshot(failed), and raft asks again. Once the last chunk is acknowledged the
// leader sends the MsgSnap, with the source's metadata (possibly newer than the one raft
// named: the follower's answer moves raft's progress past it all the same). While a stream
// is under way, raft's repeated requests for the same follower are answered by it. A stream
// ends silently when the leader's term ends.
//
// Staging and installing: the follower writes each chunk in order into SSTables of bounded
// size in the stage directory (snapshot_ingest.go), acknowledges duplicates again, ignores
// chunks beyond the next one, and refuses a later chunk of a stream it does not hold (after
// its restart), pairs out of order, or a snapshot not beyond its applied index. A MsgSnap
// reaches raft only once its stage is complete (else Receive returns an error); the stage
// is then pinned until the next Ready, which installs it if raft took it: writeReady
// ingests the tables in one atomic DB.Ingest (range deletions of the state-machine spans,
// the staged pairs, node/applied, and node/applied-snapshot naming the snapshot), then
// writes raft's ApplySnapshot and the removal of node/applied-snapshot in the Ready's batch;
// then the in-memory views are rebuilt from the DB (mvcc.Open, lease.Open and the key
// attachments, the dedup window; the watch hub's Restore makes watchers catch up from the
// new store). Nothing holds the whole store: memory is bounded by a chunk and one table's
// index, whatever the store's size, and Pebble's 4 GiB batch limit does not apply. A crash
// before the ingest leaves the old state, and the stage is cleared at Open: the member
// restarts from its disk alone, and the leader streams again; a crash after it leaves the
// new state, whose raft half Open finishes (the snapshot's entries are committed). Requests
// waiting on the follower for entries the snapshot covers time out (their outcome unknown,
// as after any timeout).

// Tuning of the snapshot stream.
const (
	// maxSnapshotChunkBytes bounds one chunk's key-value bytes (a chunk ends after the pair
	// that crosses it, so one chunk holds at most this plus one pair).
	maxSnapshotChunkBytes = 1 << 20
	// snapshotWindowChunks bounds the chunks sent and not yet acknowledged per stream: the
	// leader holds no more than this many chunks in the network, whatever the store's size.
	snapshotWindowChunks = 4
	// snapshotTimeoutElections: a stream that goes this many election timeouts without an
	// acknowledgement fails (ReportSnapshot(failed)); raft then asks for a new one.
	snapshotTimeoutElections = 2
	// snapshotResendElectionFraction: a stream that goes 1/this of an election timeout
	// without an acknowledgement sends again from its first unacknowledged chunk (go-back-N:
	// a lost or reordered chunk or ack costs a window, not the stream). Half an election
	// timeout (500 ms by default) is far longer than a window of 4 MiB takes on any link a
	// cluster runs on, so a slow link is not flooded with copies.
	snapshotResendElectionFraction = 2
)

// keySpan is a half-open range of Pebble keys [lo, hi).
type keySpan struct{ lo, hi []byte }

// stateMachineSpans are the keys a snapshot moves, in key order: the state machine (leases,
// the MVCC store, whose package owns every key under "mvcc/", the member table, cluster ID,
// removed IDs and alarms under "node/cluster/") and the dedup window (which
// entries' requests were applied is part of the applied state). node/applied is set to the
// snapshot's index by the install; raft/ (the log), node/format and node/boot (this
// member's own) never move.
var stateMachineSpans = []keySpan{
	{lo: []byte(lease.Prefix), hi: prefixEnd([]byte(lease.Prefix))},
	{lo: []byte("mvcc/"), hi: prefixEnd([]byte("mvcc/"))},
	{lo: []byte(auth.Prefix), hi: prefixEnd([]byte(auth.Prefix))},
	{lo: nodeClusterPrefix, hi: prefixEnd(nodeClusterPrefix)},
	{lo: nodeRequestPrefix, hi: prefixEnd(nodeRequestPrefix)},
}

// prefixEnd is the smallest key after every key that starts with prefix (prefix's last byte
// is never 0xff here).
func prefixEnd(prefix []byte) []byte {
	end := slices.Clone(prefix)
	end[len(end)-1]++
	return end
}

func inStateMachine(key []byte) bool {
	for _, s := range stateMachineSpans {
		if string(key) >= string(s.lo) && string(key) < string(s.hi) {
			return true
		}
	}
	return false
}

// snapshotState is the member's snapshot work: as a leader, the streams it sends; as a
// follower, the stage it fills (snapshot_stage.go).
type snapshotState struct {
	src     *snapSource    // the source new streams share, while any stream uses it
	streams []*snapStream  // in progress, by follower ID
	wanted  []raft.Message // raft's MsgSnaps taken from a Ready; streams start at the next Work
	seq     uint32         // streams started since Open; part of stream IDs

	stage  stageHeader // follower: the stage being filled or complete (index 0: none)
	tables *sstStage   // follower: the stage's SSTables (nil until the first chunk)
	pinned bool        // the complete stage's MsgSnap went to raft: keep it until the next Ready
}

// snapSource is the store at one applied index, read through a Pebble snapshot.
type snapSource struct {
	meta raft.SnapshotMetadata
	snap *pebble.Snapshot
	refs int // streams reading it
}

// snapStream sends one follower the store, chunk by chunk, then raft's MsgSnap.
type snapStream struct {
	id, to, term uint64
	src          *snapSource
	span         int        // the span being read (len(stateMachineSpans): all read)
	resume       []byte     // the next key to read in that span (nil: its start)
	sent, acked  uint32     // chunks sent; chunks acknowledged (a prefix)
	starts       []chunkPos // where chunks [acked, sent) started, to send them again
	progressTick uint64     // m.ticks of the last acknowledgement (or the start)
	resendTick   uint64     // m.ticks of the last acknowledgement or resend
}

// chunkPos is a position in the stream: a span and the next key to read in it.
type chunkPos struct {
	span   int
	resume []byte
}

// maybeSnapshotLog records a snapshot at the applied index and compacts the log below it,
// keeping SnapshotCatchUpEntries entries for followers a little behind, once the log holds
// more than SnapshotEntries applied entries beyond the last snapshot. It runs between
// Readies, when raft's applied index and configuration are the member's.
func (m *Member) maybeSnapshotLog() error {
	if m.applied <= m.log.SnapshotIndex()+uint64(m.cfg.SnapshotEntries) {
		return nil
	}
	st := m.rn.Status()
	m.requireRaftApplied(st)
	b := m.db.NewBatch()
	defer b.Close()
	meta, err := m.log.CreateSnapshot(b, m.applied, st.Config)
	if err != nil {
		return fmt.Errorf("snapshot at applied index %d: %w", m.applied, err)
	}
	first, err := m.log.FirstIndex()
	if err != nil {
		return err
	}
	if compactTo := meta.Index - uint64(m.cfg.SnapshotCatchUpEntries); compactTo >= first {
		if err := m.log.Compact(b, compactTo); err != nil {
			return fmt.Errorf("compact log to %d: %w", compactTo, err)
		}
	}
	// Unsynced: a crash may lose it, and the log still holds every entry then.
	return b.Commit(pebble.NoSync)
}

func (m *Member) requireRaftApplied(st raft.Status) {
	if st.Applied != m.applied {
		panic(fmt.Sprintf("node %d: raft applied %d, member applied %d, between Readies", m.cfg.ID, st.Applied, m.applied))
	}
}

// wantSnapshot takes raft's MsgSnap instead of sending it: the data goes first (startStreams).
func (m *Member) wantSnapshot(msg raft.Message) {
	m.snap.wanted = append(m.snap.wanted, raft.Message{Type: raft.MsgSnap, From: msg.From, To: msg.To, Term: msg.Term})
}

func (m *Member) stream(to uint64) *snapStream {
	for _, s := range m.snap.streams {
		if s.to == to {
			return s
		}
	}
	return nil
}

// startSnapshotStreams starts a stream for each follower raft asked a snapshot for, unless
// one is already under way (raft asks again when its own wait expires; the stream in
// progress answers that too). It runs between Readies.
func (m *Member) startSnapshotStreams() error {
	wanted := m.snap.wanted
	m.snap.wanted = nil
	if len(wanted) == 0 {
		return nil
	}
	st := m.rn.Status()
	if st.RaftState != raft.StateLeader {
		return nil
	}
	for _, w := range wanted {
		if w.Term != st.Term || m.stream(w.To) != nil {
			continue
		}
		src, err := m.snapshotSource(st)
		if err != nil {
			return err
		}
		src.refs++
		m.logf("sending a snapshot at index %d (term %d) to member %d", src.meta.Index, src.meta.Term, w.To)
		m.snap.seq++
		m.snap.streams = append(m.snap.streams, &snapStream{
			id: m.requestIDPrefix | uint64(m.snap.seq), to: w.To, term: w.Term, src: src, progressTick: m.ticks, resendTick: m.ticks,
		})
	}
	slices.SortFunc(m.snap.streams, func(a, b *snapStream) int { return cmp.Compare(a.to, b.to) })
	return nil
}

// snapshotSource is the source new streams read: the one in use if the log still continues
// from its index, else the store now, at the applied index, recorded as the log's snapshot
// if the log's snapshot is older.
func (m *Member) snapshotSource(st raft.Status) (*snapSource, error) {
	first, err := m.log.FirstIndex()
	if err != nil {
		return nil, err
	}
	if src := m.snap.src; src != nil && src.meta.Index+1 >= first {
		return src, nil
	}
	m.requireRaftApplied(st)
	held, err := m.log.Snapshot()
	if err != nil {
		return nil, err
	}
	meta := held.Metadata
	switch {
	case m.applied > meta.Index:
		b := m.db.NewBatch()
		defer b.Close()
		if meta, err = m.log.CreateSnapshot(b, m.applied, st.Config); err != nil {
			return nil, fmt.Errorf("snapshot at applied index %d: %w", m.applied, err)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return nil, err
		}
	case m.applied < meta.Index:
		panic(fmt.Sprintf("node %d: the log's snapshot at %d is beyond the applied index %d", m.cfg.ID, meta.Index, m.applied))
	}
	src := &snapSource{meta: meta, snap: m.db.NewSnapshot()}
	m.dropSourceIfUnused()
	m.snap.src = src
	return src, nil
}

// dropSourceIfUnused closes the current source if no stream reads it.
func (m *Member) dropSourceIfUnused() {
	if src := m.snap.src; src != nil && src.refs == 0 {
		_ = src.snap.Close()
		m.snap.src = nil
	}
}

// endStream ends the stream to s.to, reporting a failure to raft if failed.
func (m *Member) endStream(s *snapStream, failed bool) {
	m.snap.streams = slices.DeleteFunc(m.snap.streams, func(x *snapStream) bool { return x == s })
	s.src.refs--
	if s.src.refs == 0 && s.src != m.snap.src {
		_ = s.src.snap.Close()
	}
	m.dropSourceIfUnused()
	if failed {
		m.rn.ReportSnapshot(s.to, true)
	}
}

// closeSnapshots releases every Pebble snapshot and drops the stage (at Close).
func (m *Member) closeSnapshots() {
	if m.snap.tables != nil {
		_ = m.snap.tables.reset()
	}
	for len(m.snap.streams) > 0 {
		m.endStream(m.snap.streams[0], false)
	}
	m.dropSourceIfUnused()
}

// pumpSnapshots appends to dst the chunks each stream may send now (up to its window) and,
// once a stream's last chunk is acknowledged, raft's MsgSnap, ending the stream. A stream
// whose term is over ends without a report (raft forgot it).
func (m *Member) pumpSnapshots(dst []Envelope) ([]Envelope, error) {
	if len(m.snap.streams) == 0 {
		return dst, nil
	}
	st := m.rn.Status()
	for _, s := range slices.Clone(m.snap.streams) {
		if st.RaftState != raft.StateLeader || st.Term != s.term {
			m.endStream(s, false)
			continue
		}
		for s.span < len(stateMachineSpans) && s.sent-s.acked < snapshotWindowChunks {
			chunk, err := m.nextChunk(s)
			if err != nil {
				return dst, err
			}
			dst = append(dst, Envelope{To: s.to, Data: chunk})
		}
		if s.span == len(stateMachineSpans) && s.acked == s.sent {
			msg := raft.Message{Type: raft.MsgSnap, From: m.cfg.ID, To: s.to, Term: s.term,
				Snapshot: &raft.Snapshot{Metadata: s.src.meta}}
			data, err := encodeRaftFrame(m.codec, &msg)
			if err != nil {
				return dst, fmt.Errorf("encode snapshot message to %d: %w", s.to, err)
			}
			dst = append(dst, Envelope{To: s.to, Data: data})
			m.event(Event{Kind: EventSnapshotSent, Peer: s.to, Index: s.src.meta.Index})
			m.endStream(s, false)
		}
	}
	return dst, nil
}

// nextChunk reads the stream's next chunk from its source and encodes it as a frame.
func (m *Member) nextChunk(s *snapStream) ([]byte, error) {
	c := snapChunk{from: m.cfg.ID, stream: s.id, index: s.src.meta.Index, term: s.src.meta.Term, seq: s.sent}
	s.starts = append(s.starts, chunkPos{span: s.span, resume: s.resume})
	body := c.appendHeader(make([]byte, 0, 64))
	pairsAt := len(body)
	for s.span < len(stateMachineSpans) && len(body)-pairsAt < m.cfg.snapshotChunkBytes {
		span := stateMachineSpans[s.span]
		lo := span.lo
		if s.resume != nil {
			lo = s.resume
		}
		it, err := s.src.snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: span.hi})
		if err != nil {
			return nil, err
		}
		valid := it.First()
		for ; valid && len(body)-pairsAt < m.cfg.snapshotChunkBytes; valid = it.Next() {
			body = appendBytes(body, it.Key())
			body = appendBytes(body, it.Value())
		}
		if valid {
			s.resume = slices.Clone(it.Key())
		} else {
			s.span++
			s.resume = nil
		}
		err = errors.Join(it.Error(), it.Close())
		if err != nil {
			return nil, fmt.Errorf("read snapshot at %d: %w", s.src.meta.Index, err)
		}
	}
	if s.span == len(stateMachineSpans) {
		body[snapChunkLastOffset] = 1
	}
	s.sent++
	return encodeChecksummedFrame(frameSnapChunk, body), nil
}

// receiveSnapAck is the leader hearing a follower acknowledge (or refuse) a chunk.
func (m *Member) receiveSnapAck(body []byte) error {
	a, err := decodeSnapAck(body)
	if err != nil {
		return err
	}
	s := m.stream(a.from)
	if s == nil || s.id != a.stream {
		return nil // a stream that ended
	}
	if !a.ok {
		m.endStream(s, true)
		return nil
	}
	if a.seq >= s.sent {
		return fmt.Errorf("%w: snapshot ack of chunk %d from %d, only %d sent", errFrame, a.seq, a.from, s.sent)
	}
	if a.seq+1 > s.acked {
		s.starts = s.starts[a.seq+1-s.acked:]
		s.acked = a.seq + 1
		s.progressTick, s.resendTick = m.ticks, m.ticks
	}
	return nil
}

// tickSnapshots sends again from the first unacknowledged chunk of a stream that went
// half an election timeout without an acknowledgement, and fails streams that went
// snapshotTimeoutElections election timeouts without one.
func (m *Member) tickSnapshots() {
	m.unpinIfDeclined()
	timeout := uint64(snapshotTimeoutElections * m.cfg.ElectionTimeoutTicks)
	resend := max(1, uint64(m.cfg.ElectionTimeoutTicks/snapshotResendElectionFraction))
	for _, s := range slices.Clone(m.snap.streams) {
		switch {
		case m.ticks-s.progressTick >= timeout:
			m.endStream(s, true)
		case m.ticks-s.resendTick >= resend && s.sent > s.acked:
			s.span, s.resume = s.starts[0].span, s.starts[0].resume
			s.sent, s.starts = s.acked, s.starts[:0]
			s.resendTick = m.ticks
		}
	}
}

// Frames. A chunk's body: from, stream ID, snapshot index and term (8 bytes BE each), chunk
// number (4 bytes BE), last flag (1 byte), then key-value pairs (uvarint length and bytes
// each) of state-machine keys. An ack's body: from, stream ID (8 bytes BE each), chunk number
// (4 bytes BE), ok flag (1 byte). Both travel checksummed (encodeChecksummedFrame).
type snapChunk struct {
	from, stream, index, term uint64
	seq                       uint32
	last                      bool
	pairs                     []byte // the encoded pairs (aliases the frame)
}

const (
	snapChunkLastOffset  = 8*4 + 4
	snapChunkHeaderBytes = snapChunkLastOffset + 1
	snapAckBytes         = 8*2 + 4 + 1
)

func (c snapChunk) appendHeader(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, c.from)
	dst = binary.BigEndian.AppendUint64(dst, c.stream)
	dst = binary.BigEndian.AppendUint64(dst, c.index)
	dst = binary.BigEndian.AppendUint64(dst, c.term)
	dst = binary.BigEndian.AppendUint32(dst, c.seq)
	if c.last {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendBytes(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// decodeSnapChunk checks a chunk's structure: a known flag, nonzero IDs and index, and pairs
// that parse completely with every key a state-machine key.
func decodeSnapChunk(body []byte) (snapChunk, error) {
	bad := func(format string, args ...any) (snapChunk, error) {
		return snapChunk{}, fmt.Errorf("%w: snapshot chunk: %s", errFrame, fmt.Sprintf(format, args...))
	}
	if len(body) < snapChunkHeaderBytes {
		return bad("%d bytes, shorter than its %d-byte header", len(body), snapChunkHeaderBytes)
	}
	c := snapChunk{
		from:   binary.BigEndian.Uint64(body),
		stream: binary.BigEndian.Uint64(body[8:]),
		index:  binary.BigEndian.Uint64(body[16:]),
		term:   binary.BigEndian.Uint64(body[24:]),
		seq:    binary.BigEndian.Uint32(body[32:]),
		pairs:  body[snapChunkHeaderBytes:],
	}
	switch body[snapChunkLastOffset] {
	case 0:
	case 1:
		c.last = true
	default:
		return bad("last flag %d", body[snapChunkLastOffset])
	}
	if c.from == 0 || c.stream == 0 || c.index == 0 || c.term == 0 {
		return bad("zero sender (%d), stream (%d), index (%d) or term (%d)", c.from, c.stream, c.index, c.term)
	}
	err := c.eachPair(func(k, _ []byte) error {
		if !inStateMachine(k) {
			return fmt.Errorf("%w: snapshot chunk: key %q is not state-machine data", errFrame, k)
		}
		return nil
	})
	return c, err
}

// eachPair calls fn with each key and value of the chunk (aliasing it).
func (c snapChunk) eachPair(fn func(k, v []byte) error) error {
	buf := c.pairs
	next := func(what string) ([]byte, error) {
		n, k := binary.Uvarint(buf)
		if k <= 0 || n > uint64(len(buf)-k) {
			return nil, fmt.Errorf("%w: snapshot chunk %d: truncated %s", errFrame, c.seq, what)
		}
		b := buf[k : k+int(n)]
		buf = buf[k+int(n):]
		return b, nil
	}
	for len(buf) > 0 {
		k, err := next("key")
		if err != nil {
			return err
		}
		v, err := next("value")
		if err != nil {
			return err
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

type snapAck struct {
	from, stream uint64
	seq          uint32
	ok           bool
}

func encodeSnapAck(a snapAck) []byte {
	body := make([]byte, 0, snapAckBytes)
	body = binary.BigEndian.AppendUint64(body, a.from)
	body = binary.BigEndian.AppendUint64(body, a.stream)
	body = binary.BigEndian.AppendUint32(body, a.seq)
	if a.ok {
		body = append(body, 1)
	} else {
		body = append(body, 0)
	}
	return encodeChecksummedFrame(frameSnapAck, body)
}

func decodeSnapAck(body []byte) (snapAck, error) {
	if len(body) != snapAckBytes {
		return snapAck{}, fmt.Errorf("%w: snapshot ack of %d bytes, want %d", errFrame, len(body), snapAckBytes)
	}
	a := snapAck{from: binary.BigEndian.Uint64(body), stream: binary.BigEndian.Uint64(body[8:]), seq: binary.BigEndian.Uint32(body[16:])}
	switch body[20] {
	case 0:
	case 1:
		a.ok = true
	default:
		return snapAck{}, fmt.Errorf("%w: snapshot ack flag %d", errFrame, body[20])
	}
	if a.from == 0 || a.stream == 0 {
		return snapAck{}, fmt.Errorf("%w: snapshot ack with zero sender or stream", errFrame)
	}
	return a, nil
}
