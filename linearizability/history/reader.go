package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes bounds one line of a history file; a longer line is rejected (a watch
// response with many events is the longest record a run writes).
const MaxLineBytes = 64 << 20

// ReadError is why Read rejected a file: the 1-based line and the reason.
type ReadError struct {
	Line   int
	Reason string
}

func (e *ReadError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Read reads a history file. Blank lines are skipped. The first record must be the header;
// then operations, watch records, lease expiries and faults in any order, except that a
// watch's responses and resumes come after its creation, in arrival order. Any malformed
// record stops the read with a *ReadError naming its line and the reason.
func Read(r io.Reader) (*History, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h := &History{}
	var watches watchBuilder
	lineNo := 0
	sawHeader := false
	for {
		line, err := readLine(br)
		if len(line) > 0 || err == nil {
			lineNo++
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, &ReadError{Line: lineNo, Reason: err.Error()}
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			if rerr := readRecord(h, &watches, trimmed, lineNo, &sawHeader); rerr != nil {
				return nil, &ReadError{Line: lineNo, Reason: rerr.Error()}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if !sawHeader {
		return nil, &ReadError{Line: max(lineNo, 1), Reason: "missing header: the file has no records"}
	}
	h.Watches = watches.watches
	return h, nil
}

// readLine returns the next line without its newline; io.EOF with the last, unterminated
// line (possibly empty).
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > MaxLineBytes {
			return nil, fmt.Errorf("line longer than %d bytes", MaxLineBytes)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return line, err
		}
	}
}

func readRecord(h *History, watches *watchBuilder, line []byte, lineNo int, sawHeader *bool) error {
	kind, ok := fastKind(line)
	if !ok {
		var err error
		if kind, err = recordKind(line); err != nil {
			return recordError("", err)
		}
	}
	if !*sawHeader && kind != RecordHeader {
		return fmt.Errorf("missing header: the first record is %q, it must be %q", kind, RecordHeader)
	}
	switch kind {
	case RecordHeader:
		if *sawHeader {
			return fmt.Errorf("header not first: a second header record")
		}
		*sawHeader = true
		if err := decodeObject(line, &h.Header, true); err != nil {
			return recordError("header", err)
		}
		if err := h.Header.validate(); err != nil {
			return recordError("header", err)
		}
	case RecordOperation:
		var op Operation
		if err := decodeObject(line, &op, true); err != nil {
			return recordError("op", err)
		}
		if err := op.validate(); err != nil {
			return recordError("op", err)
		}
		op.Line = lineNo
		h.Operations = append(h.Operations, op)
	case RecordWatch:
		var w watchLine
		if err := decodeObject(line, &w, true); err != nil {
			return recordError("watch", err)
		}
		if err := watches.create(w.ID, w.Client, w.TimeNs, w.Request, lineNo); err != nil {
			return recordError("watch", err)
		}
	case RecordWatchResponse:
		var w watchResponseLine
		if err := decodeObject(line, &w, true); err != nil {
			return recordError("watch_response", err)
		}
		if err := watches.respond(w.ID, w.Response); err != nil {
			return recordError("watch_response", err)
		}
	case RecordWatchResume:
		var w watchResumeLine
		if err := decodeObject(line, &w, true); err != nil {
			return recordError("watch_resume", err)
		}
		if err := watches.resume(w.ID, w.TimeNs, w.StartRevision, lineNo); err != nil {
			return recordError("watch_resume", err)
		}
	case RecordLeaseExpiry:
		var le LeaseExpiry
		if err := decodeObject(line, &le, true); err != nil {
			return recordError("lease_expiry", err)
		}
		if err := le.validate(); err != nil {
			return recordError("lease_expiry", err)
		}
		le.Line = lineNo
		h.LeaseExpiries = append(h.LeaseExpiries, le)
	case RecordFault:
		var f Fault
		if err := decodeObject(line, &f, true); err != nil {
			return recordError("fault", err)
		}
		if err := f.validate(&h.Header); err != nil {
			return recordError("fault", err)
		}
		f.Line = lineNo
		h.Faults = append(h.Faults, f)
	default:
		return fmt.Errorf("unknown record kind %q", kind)
	}
	return nil
}

// fastKind reads the kind of a record that starts the way the writer starts every record,
// {"kind":"...", without checking the rest: decoding the record checks its syntax.
func fastKind(line []byte) (string, bool) {
	const prefix = `{"kind":"`
	if !bytes.HasPrefix(line, []byte(prefix)) {
		return "", false
	}
	rest := line[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	return string(rest[:end]), true
}

// recordError words a record's error: malformed JSON as "bad JSON", anything else prefixed
// with the record's kind.
func recordError(kind string, err error) error {
	var syntax *syntaxError
	if errors.As(err, &syntax) {
		return fmt.Errorf("bad JSON: %v", syntax)
	}
	if kind == "" {
		return err
	}
	return fmt.Errorf("%s: %w", kind, err)
}
