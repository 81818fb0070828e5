package history

import (
	"encoding/json"
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
		{"bad base64", `{"key_b64":"!!"}`, `key_b64: invalid base64`},
		{"unknown field", `{"key":"a","colour":1}`, `unknown field "colour"`},
		{"missing key", `{"value":"a"}`, `missing field "key"`},
		{"wrong type", `{"key":"a","version":"x"}`, `version: expected int64, got JSON string`},
		{"not object", `[1]`, `expected a JSON object, got an array`},
		{"key not string", `{"key":1}`, `key: expected a string, got a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kv KeyValue
			err := json.Unmarshal([]byte(tc.in), &kv)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
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
