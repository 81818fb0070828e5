package wire

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ballastdb/ballast/raft"
	"github.com/stretchr/testify/require"
)

// FuzzDecode feeds arbitrary bytes to the decoder, both as a frame and as a body behind a
// valid header and checksum (so the fuzzer reaches the body parser, which a checksum would
// otherwise guard). Properties: no panic; every error wraps one of the package's errors;
// a frame that decodes re-encodes to the same bytes (the encoding is canonical);
// DecodeAliased agrees with Decode; Decode's message does not change when the input is
// overwritten. The corpus in testdata/fuzz/FuzzDecode holds frames of real raft messages
// (TestWriteFuzzCorpus writes it).
func FuzzDecode(f *testing.F) {
	rng := newRand(11)
	for i := 0; i < 16; i++ {
		m := randMessage(rng)
		frame := mustEncode(f, m)
		f.Add(frame)
		f.Add(frame[HeaderBytes:]) // a body, for the path behind a valid checksum
	}
	f.Add(heartbeatBody())
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		if len(data) < 1<<16 {
			checkDecode(t, frameOf(data))
		}
	})
}

var decodeErrors = []error{ErrShortBuffer, ErrBadMagic, ErrBadVersion, ErrTooLarge, ErrChecksum, ErrUnknownType, ErrMalformed}

func checkDecode(t *testing.T, frame []byte) {
	c := Codec{MaxFrameBytes: 1 << 20}
	input := append([]byte(nil), frame...)
	m, err := c.Decode(input)
	if err != nil {
		known := false
		for _, e := range decodeErrors {
			known = known || errors.Is(err, e)
		}
		require.True(t, known, "error wraps none of the package's errors: %v", err)
		_, aliasedErr := c.DecodeAliased(frame)
		require.Equal(t, err.Error(), aliasedErr.Error())
		return
	}
	aliased, err := c.DecodeAliased(frame)
	require.NoError(t, err)
	require.Equal(t, m, aliased)
	again, err := c.Encode(&m)
	require.NoError(t, err, "a decoded message must encode: %s", m)
	require.Equal(t, frame, again, "decode then encode must give the frame back")
	for i := range input {
		input[i] ^= 0xff
	}
	require.Equal(t, aliased, m, "Decode's message changed when its input was overwritten")
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the seed files of testdata/fuzz/FuzzDecode from a raft run")

// TestFuzzCorpus checks that the committed seed corpus holds valid frames of the current
// encoding: a frame of every message type of a real raft run, and two hand-made ones. With
// -write-corpus it first regenerates those seed files (crashers found by fuzzing are other
// files and stay as they are).
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if *writeCorpus {
		writeSeedCorpus(t, dir)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	require.NoError(t, err)
	types := map[raft.MessageType]bool{}
	for _, path := range files {
		content, err := os.ReadFile(path)
		require.NoError(t, err)
		var quoted string
		_, err = fmt.Sscanf(string(content), "go test fuzz v1\n[]byte(%q)\n", &quoted)
		require.NoError(t, err, "%s is not a one-[]byte fuzz corpus file", path)
		if !strings.HasPrefix(filepath.Base(path), "raft-") && !strings.HasPrefix(filepath.Base(path), "msg") {
			continue // a crasher kept as a regression input: FuzzDecode replays it
		}
		m, err := Codec{}.Decode([]byte(quoted))
		require.NoError(t, err, "seed %s", path)
		types[m.Type] = true
	}
	for typ := raft.MsgApp; typ <= lastMessageType; typ++ {
		require.True(t, types[typ], "no seed frame of %s in %s", typ, dir)
	}
}

func writeSeedCorpus(t *testing.T, dir string) {
	c := newCluster(t, 5)
	require.NoError(t, c.nodes[1].Campaign())
	c.stabilize()
	require.NoError(t, c.nodes[1].Propose([]byte("put k v")))
	require.NoError(t, c.nodes[1].ProposeConfChange(raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: 4}))
	c.stabilize()
	require.NoError(t, c.nodes[2].ReadIndex([]byte("read-1")))
	c.stabilize()
	require.NoError(t, c.nodes[1].TransferLeader(2))
	c.stabilize()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	seen := map[raft.MessageType]bool{}
	codec := Codec{}
	for _, frame := range c.frames {
		m, err := codec.Decode(frame)
		require.NoError(t, err)
		if seen[m.Type] {
			continue
		}
		seen[m.Type] = true
		writeCorpusFile(t, filepath.Join(dir, "raft-"+m.Type.String()), frame)
	}
	m := appMessage(16, 256)
	writeCorpusFile(t, filepath.Join(dir, "msgapp-16x256"), mustEncode(t, m))
	snap := raft.Message{Type: raft.MsgSnap, From: 1, To: 3, Term: 4, Snapshot: &raft.Snapshot{
		Data: []byte("snapshot data"), Metadata: raft.SnapshotMetadata{Index: 40, Term: 4, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}},
	}}
	writeCorpusFile(t, filepath.Join(dir, "msgsnap-learner"), mustEncode(t, snap))
}

func writeCorpusFile(t *testing.T, path string, data []byte) {
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)), 0o644))
}
