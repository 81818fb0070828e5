package history

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// The format's structs share one JSON codec, driven by their `json` tags, so that every
// Bytes field gets the name / name_b64 spelling and every object rejects unknown fields (a
// misspelt field in a hand-written history is an error, not a silently ignored value).
// Supported: the json tag's name and its omitempty option (omit the zero value or an empty
// slice), and the tag history:"required" (the reader rejects an object without the field).

type codecField struct {
	index     int
	name      string
	omitEmpty bool
	required  bool
	isBytes   bool
}

var (
	bytesType  = reflect.TypeOf(Bytes(nil))
	codecCache sync.Map // reflect.Type -> []codecField
)

func codecFields(t reflect.Type) []codecField {
	if cached, ok := codecCache.Load(t); ok {
		return cached.([]codecField)
	}
	var fields []codecField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" || !sf.IsExported() {
			continue
		}
		parts := strings.Split(tag, ",")
		f := codecField{index: i, name: parts[0], isBytes: sf.Type == bytesType}
		if f.name == "" {
			panic(fmt.Sprintf("history: field %s.%s has no json name", t.Name(), sf.Name))
		}
		f.required = sf.Tag.Get("history") == "required"
		for _, opt := range parts[1:] {
			switch opt {
			case "omitempty":
				f.omitEmpty = true
			default:
				panic(fmt.Sprintf("history: field %s.%s has unknown json option %q", t.Name(), sf.Name, opt))
			}
		}
		fields = append(fields, f)
	}
	codecCache.Store(t, fields)
	return fields
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String:
		return v.Len() == 0
	default:
		return v.IsZero()
	}
}

// encodeObject writes the struct that ptr points to as a JSON object, fields in declaration
// order, preceded by "kind": kind when kind is not empty.
func encodeObject(kind string, ptr any) ([]byte, error) {
	v := reflect.ValueOf(ptr).Elem()
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	writeName := func(name string) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		nameJSON, _ := json.Marshal(name)
		buf.Write(nameJSON)
		buf.WriteByte(':')
	}
	if kind != "" {
		writeName("kind")
		kindJSON, _ := json.Marshal(kind)
		buf.Write(kindJSON)
	}
	for _, f := range codecFields(v.Type()) {
		fv := v.Field(f.index)
		if f.omitEmpty && isEmptyValue(fv) {
			continue
		}
		if f.isBytes {
			b := fv.Bytes()
			if utf8.Valid(b) {
				writeName(f.name)
				s, err := json.Marshal(string(b))
				if err != nil {
					return nil, err
				}
				buf.Write(s)
			} else {
				writeName(f.name + "_b64")
				buf.WriteByte('"')
				buf.WriteString(base64.StdEncoding.EncodeToString(b))
				buf.WriteByte('"')
			}
			continue
		}
		writeName(f.name)
		enc, err := json.Marshal(fv.Interface())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		buf.Write(enc)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// decodeObject fills the struct that ptr points to from a JSON object. It rejects unknown
// fields, a Bytes field given both as name and name_b64, invalid base64 and missing required
// fields. The key "kind" is accepted (and ignored) when allowKind is set: records carry it.
func decodeObject(data []byte, ptr any, allowKind bool) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return fmt.Errorf("expected a JSON object, got %s", describeJSON(data))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	v := reflect.ValueOf(ptr).Elem()
	fields := codecFields(v.Type())
	seen := make(map[string]bool, len(raw))
	for _, f := range fields {
		fv := v.Field(f.index)
		msg, ok := raw[f.name]
		if f.isBytes {
			msgB64, okB64 := raw[f.name+"_b64"]
			if ok && okB64 {
				return fmt.Errorf("both %q and %q given", f.name, f.name+"_b64")
			}
			seen[f.name+"_b64"] = okB64
			if okB64 {
				var s string
				if err := json.Unmarshal(msgB64, &s); err != nil {
					return fmt.Errorf("%s_b64: expected a base64 string, got %s", f.name, describeJSON(msgB64))
				}
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return fmt.Errorf("%s_b64: invalid base64 %q: %v", f.name, s, err)
				}
				setBytes(fv, b)
				continue
			}
			if ok {
				var s string
				if err := json.Unmarshal(msg, &s); err != nil {
					return fmt.Errorf("%s: expected a string, got %s", f.name, describeJSON(msg))
				}
				setBytes(fv, []byte(s))
				seen[f.name] = true
				continue
			}
			if f.required {
				return fmt.Errorf("missing field %q (or %q)", f.name, f.name+"_b64")
			}
			continue
		}
		seen[f.name] = ok
		if !ok {
			if f.required {
				return fmt.Errorf("missing field %q", f.name)
			}
			continue
		}
		if err := json.Unmarshal(msg, fv.Addr().Interface()); err != nil {
			return fmt.Errorf("%s: %w", f.name, unwrapJSONError(err))
		}
		if fv.Kind() == reflect.Slice && fv.Len() == 0 {
			fv.SetZero() // nil is the one spelling of an empty list, as for Bytes
		}
	}
	var unknown []string
	for name := range raw {
		if !seen[name] && !(allowKind && name == "kind") {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("unknown field %q", unknown[0])
	}
	return nil
}

// unwrapJSONError turns encoding/json's type errors into a short reason.
func unwrapJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if ok := asTypeError(err, &typeErr); ok {
		return fmt.Errorf("expected %s, got JSON %s", typeErr.Type, typeErr.Value)
	}
	return err
}

func asTypeError(err error, target **json.UnmarshalTypeError) bool {
	te, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = te
	}
	return ok
}

// describeJSON names what a JSON value is, for messages.
func describeJSON(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// setBytes stores b, keeping nil as the one spelling of empty so that decoded values compare
// equal to the ones that were encoded.
func setBytes(fv reflect.Value, b []byte) {
	if len(b) == 0 {
		b = nil
	}
	fv.SetBytes(b)
}
