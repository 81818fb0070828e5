package node

import (
	"testing"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/ballastdb/ballast/kv/lease"
	"github.com/ballastdb/ballast/kv/wire"
	"github.com/ballastdb/ballast/raft"
)

// FuzzDecodeFrame runs every frame decoder (raft messages, forwarded entries, lease calls
// and answers, snapshot chunks and acks) and requires errors for what they refuse and a
// round trip for what they accept; FuzzReceive hands any bytes to a one-member leader,
// which must neither panic nor stop, and must serve writes afterwards.

// fuzzSeeds are valid frames of every kind, so the fuzzer starts past the checksums.
func fuzzSeeds(f *testing.F) [][]byte {
	var codec wire.Codec
	var seeds [][]byte
	for _, msg := range []raft.Message{
		{Type: raft.MsgHeartbeat, From: 2, To: 1, Term: 3, Commit: 4},
		{Type: raft.MsgApp, From: 2, To: 1, Term: 3, Index: 1, LogTerm: 1, Commit: 2,
			Entries: []raft.Entry{{Term: 3, Index: 2, Data: []byte{entryRequest}}}},
		{Type: raft.MsgVote, From: 3, To: 1, Term: 9, Index: 5, LogTerm: 4},
	} {
		data, err := encodeRaftFrame(codec, &msg)
		require.NoError(f, err)
		seeds = append(seeds, data)
	}
	req, err := encodeRequestEntry(put("k", "v"))
	require.NoError(f, err)
	seeds = append(seeds,
		encodeForwardFrame(req),
		encodeForwardFrame(encodeCheckpointEntry([]lease.Checkpoint{{ID: 7, RemainingTTL: 3e9, Term: 2, Seq: 1}})),
		encodeLeaseCallFrame(2, 9, &leaseCall{op: leaseOpTimeToLive, leaseID: 7, withKeys: true}),
		encodeLeaseCallFrame(2, 9, &leaseCall{op: leaseOpKeepAlive, leaseID: 7}),
		encodeSnapAck(snapAck{from: 2, stream: 3, seq: 4, ok: true}),
		chunkFrame(2, 0, true, "mvcc/k", "v"),
	)
	for _, a := range []struct {
		op   byte
		resp Response
		err  error
	}{
		{leaseOpKeepAlive, Response{LeaseKeepAlive: &pb.LeaseKeepAliveResponse{ID: 7, TTL: 5}}, nil},
		{leaseOpTimeToLive, Response{LeaseTimeToLive: &pb.LeaseTimeToLiveResponse{ID: 7, TTL: 4, GrantedTTL: 5, Keys: [][]byte{[]byte("k")}}}, nil},
		{leaseOpLeases, Response{LeaseLeases: &pb.LeaseLeasesResponse{Leases: []*pb.LeaseStatus{{ID: 7}}}}, nil},
		{leaseOpKeepAlive, Response{}, lease.ErrLeaseNotFound},
	} {
		data, err := encodeLeaseAnswerFrame(9, a.op, a.resp, a.err)
		require.NoError(f, err)
		seeds = append(seeds, data)
	}
	return seeds
}

// FuzzDecodeFrame: the frame decoder and the decoders behind it (raft messages, entries,
// lease calls and answers, snapshot chunks and acks) never panic, reject what they cannot
// read with errFrame/errEntry or the codec's error, and what they accept re-encodes to
// something that decodes the same.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	var codec wire.Codec
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, body, err := decodeFrame(data)
		if err != nil {
			require.ErrorIs(t, err, errFrame)
			return
		}
		switch kind {
		case frameRaft:
			_, _ = codec.Decode(body)
		case frameForward:
			dec, err := decodeEntry(body)
			if err != nil {
				require.ErrorIs(t, err, errEntry)
				return
			}
			switch {
			case dec.request != nil:
				again, err := encodeRequestEntry(dec.request)
				require.NoError(t, err)
				dec2, err := decodeEntry(again)
				require.NoError(t, err)
				require.True(t, proto.Equal(dec.request, dec2.request))
			case dec.checkpoints != nil:
				dec2, err := decodeEntry(encodeCheckpointEntry(dec.checkpoints))
				require.NoError(t, err)
				require.Equal(t, dec.checkpoints, dec2.checkpoints)
			}
		case frameLeaseCall:
			from, reqID, c, err := decodeLeaseCall(body)
			if err != nil {
				require.ErrorIs(t, err, errFrame)
				return
			}
			require.Equal(t, data, encodeLeaseCallFrame(from, reqID, &c), "lease calls have one encoding")
		case frameLeaseAnswer:
			reqID, op, resp, answerErr, err := decodeLeaseAnswer(body)
			if err != nil {
				require.ErrorIs(t, err, errFrame)
				return
			}
			again, err := encodeLeaseAnswerFrame(reqID, op, resp, answerErr)
			require.NoError(t, err)
			_, body2, err := decodeFrame(again)
			require.NoError(t, err)
			reqID2, op2, resp2, answerErr2, err := decodeLeaseAnswer(body2)
			require.NoError(t, err)
			require.Equal(t, []any{reqID, op, answerErr}, []any{reqID2, op2, answerErr2})
			require.True(t, proto.Equal(resp.LeaseKeepAlive, resp2.LeaseKeepAlive))
			require.True(t, proto.Equal(resp.LeaseTimeToLive, resp2.LeaseTimeToLive))
			require.True(t, proto.Equal(resp.LeaseLeases, resp2.LeaseLeases))
		case frameSnapChunk:
			c, err := decodeSnapChunk(body)
			if err != nil {
				require.ErrorIs(t, err, errFrame)
				return
			}
			require.Equal(t, body, append(c.appendHeader(nil), c.pairs...), "snapshot chunk headers have one encoding")
		case frameSnapAck:
			a, err := decodeSnapAck(body)
			if err != nil {
				require.ErrorIs(t, err, errFrame)
				return
			}
			require.Equal(t, data, encodeSnapAck(a), "snapshot acks have one encoding")
		default:
			t.Fatalf("decodeFrame accepted unknown kind %d", kind)
		}
	})
}

// FuzzReceive: whatever bytes a peer sends, a member (the leader of a one-member cluster)
// answers with an error or takes them, never panics and never stops: a peer's message is
// not a storage failure. It leads again (a higher term may have made it a follower) and
// serves writes.
func FuzzReceive(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newCluster(t, 1)
		c.leader()
		m := c.members[1]
		applied := m.AppliedIndex()
		_ = m.Receive(data)
		c.stabilize()
		require.NoError(t, m.Stopped(), "a peer's message stopped the member")
		require.GreaterOrEqual(t, m.AppliedIndex(), applied)
		c.leader() // a message of a higher term may have made it follow a phantom leader
		_, err := c.do(1, put("after", "fuzz"))
		require.NoError(t, err, "the member serves writes after the message")
	})
}

// Malformed entries are refused with errEntry, naming what is wrong.
func TestDecodeEntryRejectsMalformed(t *testing.T) {
	cp := encodeCheckpointEntry([]lease.Checkpoint{{ID: 7, RemainingTTL: 3e9, Term: 2, Seq: 1}})
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"unknown kind", []byte{9, 1}, "unknown kind 9"},
		{"bad request", []byte{entryRequest, 0xff, 0xff}, "request"},
		{"no count", []byte{entryCheckpoint}, "checkpoint count"},
		{"count beyond data", []byte{entryCheckpoint, 50, 1}, "checkpoint count"},
		{"truncated ID", []byte{entryCheckpoint, 1, 0x80}, "lease ID"},
		{"truncated TTL", []byte{entryCheckpoint, 1, 2}, "remaining TTL"},
		{"truncated term", []byte{entryCheckpoint, 1, 2, 2}, "term"},
		{"truncated sequence", []byte{entryCheckpoint, 1, 2, 2, 2}, "sequence"},
		{"trailing bytes", append(append([]byte(nil), cp...), 0), "trailing"},
	} {
		_, err := decodeEntry(tc.data)
		require.ErrorIs(t, err, errEntry, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	dec, err := decodeEntry(nil)
	require.NoError(t, err, "the empty entry of a new leader")
	require.Nil(t, dec.request)
	dec, err = decodeEntry(cp)
	require.NoError(t, err)
	require.Equal(t, []lease.Checkpoint{{ID: 7, RemainingTTL: 3e9, Term: 2, Seq: 1}}, dec.checkpoints)
}
