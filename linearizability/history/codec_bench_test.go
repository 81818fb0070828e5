package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The hand-written codec (codec.go) against encoding/json on the same file. encoding/json
// cannot read the format as it is (a Bytes field is spelt name or name_b64; repeated fields
// and missing required ones are errors), so its side decodes into mirror types built with
// reflect.StructOf: the format's structs with each Bytes field split into two string fields
// and no custom methods, decoded with DisallowUnknownFields. That is less work than reading
// the format (no base64, no conversion back, no required or repeated-field checks, no
// validation), so it bounds encoding/json's cost from below.
//
//	go test -run XXX -bench Codec -benchtime 3x ./linearizability/history/
//
// BALLAST_CODEC_OPS sets the history's size (default 1,000,000 operations).

var (
	benchHistoryOnce sync.Once
	benchHistoryData []byte
	benchHistoryOps  int
)

func benchHistory(b *testing.B) []byte {
	benchHistoryOnce.Do(func() {
		n := 1_000_000
		if s := os.Getenv("BALLAST_CODEC_OPS"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				panic(fmt.Sprintf("BALLAST_CODEC_OPS=%q: %v", s, err))
			}
			n = v
		}
		benchHistoryOps = n
		h := &History{Header: Header{Version: FormatVersion, ClusterSize: 3, Members: []string{"m1", "m2", "m3"}, Clock: ClockVirtual}}
		rng := rand.New(rand.NewPCG(1, 2))
		rev := int64(1)
		for i := range n {
			key := Bytes(fmt.Sprintf("key-%d", rng.IntN(1000)))
			call := int64(i) * 1000
			ret := call + 500
			op := Operation{Client: fmt.Sprintf("c%d", i%50), CallNs: call, ReturnNs: &ret}
			switch rng.IntN(4) {
			case 0, 1:
				rev++
				op.Request.Put = &PutRequest{Key: key, Value: Bytes(fmt.Sprintf("v%d", i))}
				op.Response = &Response{Header: ResponseHeader{Revision: rev, MemberID: 1}, Put: &PutResponse{}}
			case 2:
				op.Request.Range = &RangeRequest{Key: key}
				op.Response = &Response{Header: ResponseHeader{Revision: rev, MemberID: 2}, Range: &RangeResponse{Count: 1,
					KVs: []KeyValue{{Key: key, Value: Bytes(fmt.Sprintf("v%d", i-1)), CreateRevision: rev - 3, ModRevision: rev, Version: 4}}}}
			default:
				rev++
				op.Request.Txn = &TxnRequest{
					Compare: []Compare{{Key: key, Target: TargetMod, Result: ResultLess, ModRevision: rev}},
					Success: []Request{{Put: &PutRequest{Key: key, Value: Bytes{0xff, byte(i)}}}},
				}
				op.Response = &Response{Header: ResponseHeader{Revision: rev, MemberID: 3},
					Txn: &TxnResponse{Succeeded: true, Responses: []Response{{Put: &PutResponse{}}}}}
			}
			h.Operations = append(h.Operations, op)
		}
		var buf bytes.Buffer
		if _, err := h.WriteTo(&buf); err != nil {
			panic(err)
		}
		benchHistoryData = buf.Bytes()
	})
	return benchHistoryData
}

func BenchmarkCodecReadHand(b *testing.B) {
	data := benchHistory(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		h, err := Read(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if len(h.Operations) != benchHistoryOps {
			b.Fatalf("read %d operations, wrote %d", len(h.Operations), benchHistoryOps)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchHistoryOps), "ns/record")
}

func BenchmarkCodecReadEncodingJSON(b *testing.B) {
	data := benchHistory(b)
	opType := reflect.StructOf(append([]reflect.StructField{{Name: "Kind", Type: reflect.TypeOf(""), Tag: `json:"kind"`}},
		mirrorFields(reflect.TypeOf(Operation{}))...))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		br := bufio.NewReaderSize(bytes.NewReader(data), 64<<10)
		if _, err := br.ReadSlice('\n'); err != nil { // the header
			b.Fatal(err)
		}
		dec := json.NewDecoder(br)
		dec.DisallowUnknownFields()
		// The records are kept in a growing slice, as Read keeps its operations.
		ops := reflect.MakeSlice(reflect.SliceOf(opType), 0, 0)
		zero := reflect.Zero(opType)
		n := 0
		for {
			ops = reflect.Append(ops, zero)
			if err := dec.Decode(ops.Index(n).Addr().Interface()); err == io.EOF {
				break
			} else if err != nil {
				b.Fatalf("record %d: %v", n+2, err)
			}
			n++
		}
		if n != benchHistoryOps {
			b.Fatalf("read %d operations, wrote %d", n, benchHistoryOps)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchHistoryOps), "ns/record")
}

// TestMirrorTypesReadTheFormat: the benchmark's encoding/json side reads a sample of the same
// file into mirror types, and what it reads matches what the hand codec reads (so the two
// benchmarks do the same job).
func TestMirrorTypesReadTheFormat(t *testing.T) {
	h := &History{Header: Header{Version: FormatVersion, ClusterSize: 1, Members: []string{"m1"}, Clock: ClockVirtual}}
	ret := int64(9)
	h.Operations = append(h.Operations, Operation{Client: "c1", CallNs: 1, ReturnNs: &ret,
		Request:  Request{Put: &PutRequest{Key: Bytes("k"), Value: Bytes{0xff}}},
		Response: &Response{Header: ResponseHeader{Revision: 2}, Put: &PutResponse{}}})
	var buf bytes.Buffer
	_, err := h.WriteTo(&buf)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	opType := reflect.StructOf(append([]reflect.StructField{{Name: "Kind", Type: reflect.TypeOf(""), Tag: `json:"kind"`}},
		mirrorFields(reflect.TypeOf(Operation{}))...))
	op := reflect.New(opType)
	dec := json.NewDecoder(strings.NewReader(lines[1]))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(op.Interface()))
	put := op.Elem().FieldByName("F5").FieldByName("F0").Elem() // Request.Put
	require.Equal(t, "k", put.FieldByName("F0").String())       // key
	require.Equal(t, "/w==", put.FieldByName("F3").String())    // value_b64
	// An unknown field is refused, as the hand codec refuses it.
	dec = json.NewDecoder(strings.NewReader(strings.Replace(lines[1], `"client"`, `"clinet"`, 1)))
	dec.DisallowUnknownFields()
	require.Error(t, dec.Decode(reflect.New(opType).Interface()))
}

// mirrorFields are t's JSON fields for encoding/json: Bytes split into name and name_b64
// strings, nested format structs mirrored, fields named F0, F1, ... (StructOf needs exported
// names; the json tag carries the real one).
func mirrorFields(t reflect.Type) []reflect.StructField { return mirrorFieldsAt(t, 0) }

// mirrorDepth bounds the nesting the mirror types spell out (a txn's requests are Requests:
// StructOf cannot make a recursive type); deeper values are json.RawMessage, which the
// benchmark's records never reach.
const mirrorDepth = 6

func mirrorFieldsAt(t reflect.Type, depth int) []reflect.StructField {
	var out []reflect.StructField
	add := func(typ reflect.Type, name string, omit bool) {
		tag := `json:"` + name
		if omit {
			tag += ",omitempty"
		}
		out = append(out, reflect.StructField{Name: fmt.Sprintf("F%d", len(out)), Type: typ, Tag: reflect.StructTag(tag + `"`)})
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || name == "" {
			continue
		}
		if f.Type == bytesType {
			add(reflect.TypeOf(""), name, true)
			add(reflect.TypeOf(""), name+"_b64", true)
			continue
		}
		add(mirrorType(f.Type, depth+1), name, opts == "omitempty")
	}
	return out
}

func mirrorType(t reflect.Type, depth int) reflect.Type {
	switch t.Kind() {
	case reflect.Pointer:
		return reflect.PointerTo(mirrorType(t.Elem(), depth))
	case reflect.Slice:
		return reflect.SliceOf(mirrorType(t.Elem(), depth))
	case reflect.Struct:
		if depth > mirrorDepth {
			return reflect.TypeOf(json.RawMessage(nil))
		}
		return reflect.StructOf(mirrorFieldsAt(t, depth))
	default:
		return t
	}
}
