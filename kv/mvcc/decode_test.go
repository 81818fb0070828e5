package mvcc

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// The fast decoder and proto.Unmarshal agree on every record encodeRecord writes.
func TestDecoderMatchesProtoUnmarshal(t *testing.T) {
	for _, seed := range testSeeds(t, 1) {
		t.Logf("seed %d", seed)
		r := rand.New(rand.NewPCG(seed, 3))
		var dec kvDecoder
		var decoded []*mvccpb.KeyValue
		var want []*mvccpb.KeyValue
		for i := 0; i < 3000; i++ {
			kv := &mvccpb.KeyValue{
				Key:            randomBytes(r),
				CreateRevision: r.Int64N(1 << 40),
				ModRevision:    r.Int64N(1 << 40),
				Version:        r.Int64N(100),
				Lease:          r.Int64N(3) * r.Int64(),
			}
			switch r.IntN(3) {
			case 0:
				kv.Value = nil
			case 1:
				kv.Value = make([]byte, r.IntN(20))
			default:
				kv.Value = make([]byte, r.IntN(20000)) // larger than the arena share
			}
			rec := encodeRecord(kindPut, kv)
			got, err := dec.decode(rec)
			require.NoError(t, err)
			ref, err := decodeRecord(rec)
			require.NoError(t, err)
			require.True(t, proto.Equal(ref, got), "seed %d: %v != %v", seed, ref, got)
			decoded = append(decoded, got)
			want = append(want, ref)
		}
		// Later decodes never overwrite earlier ones, and appends do not spill into neighbours.
		for i := range decoded {
			decoded[i].Key = append(decoded[i].Key, 'x')
		}
		for i := range decoded {
			require.Equal(t, append(append([]byte(nil), want[i].Key...), 'x'), decoded[i].Key)
			require.Equal(t, want[i].Value, decoded[i].Value)
		}
	}
	var dec kvDecoder
	for _, bad := range [][]byte{
		{kindPut, 0x0a},            // truncated length
		{kindPut, 0x0a, 0x05, 'a'}, // length past the end
		{kindPut, 0x10},            // truncated varint
		{kindPut, 0x3a, 0x00},      // unknown field 7
		{kindPut, 0x08, 0x01},      // key as a varint
	} {
		_, err := dec.decode(bad)
		require.Error(t, err, "%q", bad)
	}
}
