package peer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// The seed corpora live in testdata/fuzz/<Fuzz function>/ (go test runs them as ordinary
// tests); TestFuzzCorpus keeps them there, and -write-corpus rewrites the seed files from
// seedFrames, seedHandshakes and seedCalls (crashers found by fuzzing are other files and
// stay as they are).
var writeCorpus = flag.Bool("write-corpus", false, "rewrite the seed files of testdata/fuzz from the seeds in fuzz_test.go")

func frameBytes(payloads ...[]byte) []byte {
	var out []byte
	for _, p := range payloads {
		out = appendFrameHeader(out, p)
		out = append(out, p...)
	}
	return out
}

func helloBytes(class byte, cluster, sender, receiver uint64) []byte {
	return handshake{Version: ProtocolVersion, Class: class, Cluster: cluster, Sender: sender, Receiver: receiver}.encode()
}

// seedFrames are frame streams: valid ones (one frame, several, a large one) and broken ones
// (truncated, oversized, empty, bad checksum).
func seedFrames() map[string][]byte {
	raft := append([]byte{1}, bytes.Repeat([]byte("raft message "), 20)...)
	valid := frameBytes(raft)
	badCRC := bytes.Clone(valid)
	badCRC[len(badCRC)-1] ^= 0x40
	return map[string][]byte{
		"one-frame":        valid,
		"three-frames":     frameBytes([]byte("a"), raft, []byte{5, 0, 0, 0, 0, 9}),
		"large-frame":      frameBytes(bytes.Repeat([]byte{0xab}, 2<<10)),
		"truncated-header": valid[:5],
		"truncated-body":   valid[:len(valid)-7],
		"oversized-length": {0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4},
		"limit-plus-one":   {0x04, 0x10, 0x00, 0x01, 0, 0, 0, 0},
		"empty-frame":      make([]byte, 8),
		"bad-checksum":     badCRC,
		"valid-then-junk":  append(bytes.Clone(valid), "GET / HTTP/1.1\r\n"...),
	}
}

func seedHandshakes() map[string][]byte {
	badCRC := helloBytes(classControl, 1, 2, 3)
	badCRC[33] ^= 1
	reply := handshake{Version: ProtocolVersion, Class: classBulk, Status: statusRemoved, Cluster: 7, Sender: 3, Receiver: 2}.encode()
	future := handshake{Version: 9, Class: classCall}.encode()
	return map[string][]byte{
		"control-hello":  helloBytes(classControl, 0xc1a5, 0xa1, 0xb2),
		"bulk-hello":     helloBytes(classBulk, 0xc1a5, 0xa1, 0xb2),
		"guest-call":     helloBytes(classCall, 0, 0, 0),
		"removed-reply":  reply,
		"future-version": future,
		"bad-checksum":   badCRC,
		"bad-magic":      append([]byte("ETCD"), helloBytes(classControl, 1, 2, 3)[4:]...),
		"short":          helloBytes(classControl, 1, 2, 3)[:35],
		"http-request":   []byte("GET /raft/stream/message/1 HTTP/1.1\r\nHost: a\r\n\r\n"),
	}
}

func seedCalls() map[string][]byte {
	req, err := encodeCallRequest(5000, "MemberAdd", []byte{0x0a, 0x03, 'u', 'r', 'l'})
	if err != nil {
		panic(err)
	}
	return map[string][]byte{
		"request":        req,
		"answer":         encodeCallResponse([]byte{0x08, 0x01}, nil),
		"error":          encodeCallResponse(nil, &RemoteError{Code: codes.NotFound, Message: "etcdserver: member not found"}),
		"short-request":  req[:6],
		"unknown-answer": {7, 1, 2},
	}
}

// FuzzReadFrame reads frames from arbitrary bytes until an error. Properties: no panic;
// the error is io.EOF exactly at a frame boundary at the end of the input, else wraps
// ErrFrame or ErrFrameTooLarge; every frame read re-encodes to the bytes it was read from
// (the encoding is canonical); a payload is never longer than MaxFrameBytes. A second pass
// frames the input itself and must read it back unchanged.
func FuzzReadFrame(f *testing.F) {
	for _, seed := range seedFrames() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		consumed := 0
		for {
			payload, err := readFrame(r)
			if err != nil {
				if err == io.EOF {
					require.Equal(t, len(data), consumed, "io.EOF before the end of the input")
				} else {
					require.True(t, errors.Is(err, ErrFrame) || errors.Is(err, ErrFrameTooLarge), "unexpected error: %v", err)
				}
				break
			}
			require.LessOrEqual(t, len(payload), MaxFrameBytes)
			n := frameHeaderBytes + len(payload)
			require.Equal(t, data[consumed:consumed+n], frameBytes(payload))
			consumed += n
		}
		if len(data) > 0 && len(data) <= 1<<20 {
			var buf bytes.Buffer
			require.NoError(t, writeFrame(&buf, data))
			got, err := readFrame(&buf)
			require.NoError(t, err)
			require.Equal(t, data, got)
			_, err = readFrame(&buf)
			require.Equal(t, io.EOF, err)
		}
	})
}

// FuzzDecodeHandshake decodes arbitrary handshakes. Properties: no panic; a refusal wraps
// ErrFrame; an accepted handshake re-encodes to its bytes; a listener's decision (admit) and
// a dialer's (checkReply) never panic and name a known status; with its checksum fixed, any
// 36 bytes under the magic decode.
func FuzzDecodeHandshake(f *testing.F) {
	for _, seed := range seedHandshakes() {
		f.Add(seed)
	}
	tr := New(Config{IsRemoved: func(id uint64) bool { return id%7 == 0 }})
	defer tr.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(b []byte) bool {
			h, err := decodeHandshake(b)
			if err != nil {
				require.ErrorIs(t, err, ErrFrame)
				return false
			}
			require.Equal(t, b, h.encode())
			status := tr.admit(h, 0xb2, 0xc1a5)
			require.Less(t, status, statusMax)
			require.NotEmpty(t, statusText(status))
			checkReply(h, h)
			return true
		}
		check(data)
		if len(data) >= 32 {
			fixed := handshake{}.encode()
			copy(fixed[4:32], data[4:32])
			fixed = fixedChecksum(fixed)
			require.True(t, check(fixed), "a handshake with a correct magic and checksum must decode")
		}
	})
}

// fixedChecksum gives b (36 bytes) the magic and the checksum of its bytes 0..31.
func fixedChecksum(b []byte) []byte {
	copy(b[:4], magic[:])
	binary.BigEndian.PutUint32(b[32:], crc32.Checksum(b[:32], castagnoli))
	return b
}

// FuzzDecodeCall decodes arbitrary call payloads, as a request and as an answer.
// Properties: no panic; a refusal wraps ErrFrame; what decodes re-encodes to the same bytes.
func FuzzDecodeCall(f *testing.F) {
	for _, seed := range seedCalls() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if budget, method, body, err := decodeCallRequest(data); err != nil {
			require.ErrorIs(t, err, ErrFrame)
		} else {
			again, err := encodeCallRequest(budget, method, body)
			require.NoError(t, err)
			require.Equal(t, data, again)
		}
		if body, rerr, err := decodeCallResponse(data); err != nil {
			require.ErrorIs(t, err, ErrFrame)
		} else {
			require.Equal(t, data, encodeCallResponse(body, rerr))
		}
	})
}

// FuzzServeConn hands arbitrary bytes to a listener's connection handler, raw and after a
// valid hello (so they reach the frame reader). Properties: no panic; the handler returns
// once the bytes end; it delivers exactly the valid frames at the start of the bytes, in
// order.
func FuzzServeConn(f *testing.F) {
	for _, seed := range seedFrames() {
		f.Add(false, seed)
		f.Add(true, seed)
	}
	for _, seed := range seedHandshakes() {
		f.Add(false, seed)
	}
	f.Fuzz(func(t *testing.T, afterHello bool, data []byte) {
		var mu sync.Mutex
		var delivered [][]byte
		tr := New(Config{
			LocalID:   func() uint64 { return 0xb2 },
			ClusterID: func() uint64 { return 0xc1a5 },
			Deliver: func(b []byte) bool {
				mu.Lock()
				defer mu.Unlock()
				delivered = append(delivered, b)
				return true
			},
		})
		defer tr.Close()
		input := data
		if afterHello {
			input = append(helloBytes(classControl, 0xc1a5, 0xa1, 0xb2), data...)
		}
		server, client := net.Pipe()
		go io.Copy(io.Discard, client) // the reply
		go func() {
			client.Write(input)
			client.Close()
		}()
		require.True(t, tr.admitConn(server))
		done := make(chan struct{})
		go func() {
			defer close(done)
			tr.serveConn(server)
		}()
		select {
		case <-done:
		case <-time.After(waitMax):
			t.Fatal("the connection handler did not return after its input ended")
		}
		var want [][]byte
		if len(input) >= handshakeBytes && acceptsStream(tr, input[:handshakeBytes]) {
			r := bufio.NewReader(bytes.NewReader(input[handshakeBytes:]))
			for {
				p, err := readFrame(r)
				if err != nil {
					break
				}
				want = append(want, p)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, len(want), len(delivered))
		for i := range want {
			require.Equal(t, want[i], delivered[i])
		}
	})
}

// acceptsStream tells whether the listener accepts hello as a stream.
func acceptsStream(tr *Transport, hello []byte) bool {
	h, err := decodeHandshake(hello)
	return err == nil && (h.Class == classControl || h.Class == classBulk) && tr.admit(h, 0xb2, 0xc1a5) == statusOK
}

// TestFuzzCorpus keeps the committed seed corpora: every seed of fuzz_test.go is a file of
// its fuzz function's corpus, in go's corpus format. With -write-corpus it writes them first.
func TestFuzzCorpus(t *testing.T) {
	for _, c := range []struct {
		fuzz  string
		seeds map[string][]byte
		bools []bool // FuzzServeConn takes (bool, []byte)
	}{
		{"FuzzReadFrame", seedFrames(), nil},
		{"FuzzDecodeHandshake", seedHandshakes(), nil},
		{"FuzzDecodeCall", seedCalls(), nil},
		{"FuzzServeConn", seedFrames(), []bool{false, true}},
	} {
		dir := filepath.Join("testdata", "fuzz", c.fuzz)
		files := map[string]string{}
		for name, seed := range c.seeds {
			if c.bools == nil {
				files["seed-"+name] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
				continue
			}
			for _, b := range c.bools {
				files[fmt.Sprintf("seed-%s-%t", name, b)] = fmt.Sprintf("go test fuzz v1\nbool(%t)\n[]byte(%q)\n", b, seed)
			}
		}
		if *writeCorpus {
			require.NoError(t, os.MkdirAll(dir, 0o755))
			for name, content := range files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
			}
		}
		for name, content := range files {
			got, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err, "seed file missing: run go test ./rpc/peer -run TestFuzzCorpus -write-corpus")
			require.Equal(t, content, string(got), "seed file %s/%s is stale: rewrite it with -write-corpus", c.fuzz, name)
			require.True(t, strings.HasPrefix(string(got), "go test fuzz v1\n"))
		}
	}
}
