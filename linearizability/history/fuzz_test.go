package history

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzRead feeds arbitrary bytes to Read. Read must never panic; whatever it accepts must
// survive a write and a second read unchanged, and be valid by Validate. The corpus
// (testdata/fuzz/FuzzRead) holds the example file and lines cut from it.
//
// Run: go test -fuzz=FuzzRead -fuzztime=60s ./linearizability/history/
func FuzzRead(f *testing.F) {
	example, err := os.ReadFile("testdata/example.jsonl")
	require.NoError(f, err)
	f.Add(example)
	lines := strings.Split(string(example), "\n")
	for _, line := range lines[1:] {
		f.Add([]byte(lines[0] + "\n" + line + "\n"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Read(bytes.NewReader(data))
		if err != nil {
			re, ok := err.(*ReadError)
			require.True(t, ok, "error %v is not a *ReadError", err)
			require.GreaterOrEqual(t, re.Line, 1)
			require.NotEmpty(t, re.Reason)
			return
		}
		require.NoError(t, h.Validate())
		var first bytes.Buffer
		_, err = h.WriteTo(&first)
		require.NoError(t, err)
		again, err := Read(bytes.NewReader(first.Bytes()))
		require.NoError(t, err, "re-reading what the writer wrote:\n%s", first.String())
		clearLines(h)
		clearLines(again)
		require.Equal(t, h, again)
		var second bytes.Buffer
		_, err = again.WriteTo(&second)
		require.NoError(t, err)
		require.Equal(t, first.String(), second.String())
	})
}
