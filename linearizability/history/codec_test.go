package history

import (
	"encoding/json"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBytesFieldSpelling(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   KeyValue
		want string
	}{
		{"utf8", KeyValue{Key: Bytes("a"), Value: Bytes("v1"), ModRevision: 2}, `{"key":"a","value":"v1","create_revision":0,"mod_revision":2,"version":0}`},
		{"binary key", KeyValue{Key: Bytes{0xff, 0x00}, Value: Bytes("x")}, `{"key_b64":"/wA=","value":"x","create_revision":0,"mod_revision":0,"version":0}`},
		{"empty value omitted", KeyValue{Key: Bytes("k")}, `{"key":"k","create_revision":0,"mod_revision":0,"version":0}`},
		{"empty key kept", KeyValue{}, `{"key":"","create_revision":0,"mod_revision":0,"version":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.kv)
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
			var back KeyValue
			require.NoError(t, json.Unmarshal(got, &back))
			require.True(t, back.Key.Equal(tc.kv.Key))
			require.True(t, back.Value.Equal(tc.kv.Value))
		})
	}
}

func TestDecodeObjectErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"both spellings", `{"key":"a","key_b64":"YQ=="}`, `both "key" and "key_b64" given`},
		{"repeated field", `{"key":"a","version":1,"version":2}`, `field "version" given twice`},
		{"float for int", `{"key":"a","version":1.5}`, `version: expected an integer, got 1.5`},
		{"exponent for int", `{"key":"a","version":1e3}`, `version: expected an integer, got 1e3`},
		{"int overflow", `{"key":"a","version":99999999999999999999}`, `version: integer 99999999999999999999 out of range`},
		{"trailing data", `{"key":"a"} {}`, `unexpected data after the object`},
		{"bad escape", `{"key":"a\q"}`, `invalid escape \q`},
		{"control char", "{\"key\":\"a\x01\"}", `control character 0x1 in a string`},
		{"invalid utf8", "{\"key\":\"a\xff\"}", `invalid UTF-8 in a string`},
		{"bad literal", `{"key":"a","version":nul}`, `invalid literal`},
		{"unterminated", `{"key":"a`, `unexpected end of input in a string`},
		{"missing colon", `{"key" "a"}`, `unexpected '"', expected ':'`},
		{"bad number", `{"key":"a","version":-}`, `invalid number`},
		{"bad base64", `{"key_b64":"!!"}`, `key_b64: invalid base64`},
		{"unknown field", `{"key":"a","colour":1}`, `unknown field "colour"`},
		{"missing key", `{"value":"a"}`, `missing field "key"`},
		{"wrong type", `{"key":"a","version":"x"}`, `version: expected an integer, got a string`},
		{"not object", `[1]`, `expected a JSON object, got an array`},
		{"key not string", `{"key":1}`, `key: expected a string, got a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kv KeyValue
			err := decodeObject([]byte(tc.in), &kv, false)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestStringCodecAgainstEncodingJSON checks the codec's strings against encoding/json, the
// reference: what one writes the other reads back unchanged.
func TestStringCodecAgainstEncodingJSON(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(seed))
	alphabet := []rune{'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\r', '\t', 0, 1, 0x1f, 0x7f, '<', '>', '&', 'é', '€', '\u2028', '\u2029', 0x1F600, 0xFFFD}
	for i := 0; i < 2000; i++ {
		var sb strings.Builder
		for n := rng.Intn(12); n > 0; n-- {
			sb.WriteRune(alphabet[rng.Intn(len(alphabet))])
		}
		s := sb.String()
		var viaStd string
		require.NoError(t, json.Unmarshal(appendString(nil, s), &viaStd))
		require.Equal(t, s, viaStd)
		std, err := json.Marshal(s)
		require.NoError(t, err)
		p := &parser{data: std}
		got, err := p.readString()
		require.NoError(t, err)
		require.Equal(t, s, got)
	}
	// surrogate pairs and lone surrogates, as encoding/json reads them
	for _, in := range []string{`"\ud83d\ude00"`, `"\ud83d"`, `"\ude00x"`, `"\ud83d\u0041"`} {
		var want string
		require.NoError(t, json.Unmarshal([]byte(in), &want))
		p := &parser{data: []byte(in)}
		got, err := p.readString()
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
}

func TestDecodeNullAndNesting(t *testing.T) {
	var op Operation
	require.NoError(t, decodeObject([]byte(`{"client":"c","call_ns":1,"return_ns":null,"request":{"range":{"key":"a","range_end":"b"}},"response":null}`), &op, true))
	require.Nil(t, op.ReturnNs)
	require.Nil(t, op.Response)
	deep := strings.Repeat(`{"txn":{"success":[`, 300) + strings.Repeat(`]}}`, 300)
	var req Request
	require.ErrorContains(t, decodeObject([]byte(deep), &req, false), "nesting deeper than 256")
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		text string
		want ErrorClass
	}{
		{"etcdserver: request is too large", ErrorDefinite},
		{"etcdserver: too many operations in txn request", ErrorDefinite},
		{"etcdserver: duplicate key given in txn request", ErrorDefinite},
		{"etcdserver: requested lease not found", ErrorDefinite},
		{"etcdserver: mvcc: required revision has been compacted", ErrorDefinite},
		{"etcdserver: mvcc: required revision is a future revision", ErrorDefinite},
		{"etcdserver: permission denied", ErrorDefinite},
		{"etcdserver: key is not provided", ErrorDefinite},
		{"rpc error: code = InvalidArgument desc = etcdserver: key is not provided", ErrorDefinite},
		{"etcdserver: request timed out", ErrorIndeterminate},
		{"etcdserver: request timed out, possibly due to previous leader failure", ErrorIndeterminate},
		{"etcdserver: leader changed", ErrorIndeterminate},
		{"etcdserver: no leader", ErrorIndeterminate},
		{"context deadline exceeded", ErrorIndeterminate},
		{"rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 10.0.0.2:2379: connect: connection refused\"", ErrorIndeterminate},
		{"something nobody has heard of", ErrorIndeterminate},
	} {
		require.Equal(t, tc.want, Classify(tc.text), tc.text)
	}
}
