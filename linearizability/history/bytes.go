package history

import (
	"strconv"
	"unicode/utf8"
)

// Bytes is a key or value as etcd stores it: arbitrary bytes. In a history file a Bytes
// field named "key" is written as "key": "text" when the bytes are valid UTF-8 and as
// "key_b64": "base64 (standard, padded)" otherwise; the reader accepts either spelling (never
// both) for every Bytes field. An empty Bytes is written as "" (or omitted where the field is
// optional); nil and empty are the same value.
type Bytes []byte

// String returns the bytes as a Go-quoted string when they are not valid UTF-8, else as is,
// for messages and reports.
func (b Bytes) String() string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strconv.Quote(string(b))
}

// Equal reports whether two Bytes hold the same bytes (nil equals empty).
func (b Bytes) Equal(other Bytes) bool { return string(b) == string(other) }
