package history

import (
	"bufio"
	"fmt"
	"io"
	"reflect"
)

// WriteTo writes the history as a file Read accepts: the header, then the operations, each
// watch (its creation, its responses, each resume followed by its responses), the lease
// expiries and the faults, one record per line, in the order of the History's slices. It
// writes what it is given; call Validate first when the history was built by hand.
func (h *History) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	var line []byte // reused for every record
	write := func(kind string, v any) error {
		line = appendObject(line[:0], kind, reflect.ValueOf(v).Elem())
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("writing a %s record: %w", kind, err)
		}
		return nil
	}
	if err := h.writeRecords(write); err != nil {
		return cw.n, err
	}
	err := bw.Flush()
	return cw.n, err
}

func (h *History) writeRecords(write func(kind string, v any) error) error {
	hdr := h.Header
	if err := write(RecordHeader, &hdr); err != nil {
		return err
	}
	for i := range h.Operations {
		if err := write(RecordOperation, &h.Operations[i]); err != nil {
			return err
		}
	}
	for _, w := range h.Watches {
		for si, s := range w.Streams {
			if si == 0 {
				req := w.Request
				req.StartRevision = s.StartRevision
				if err := write(RecordWatch, &watchLine{ID: w.ID, Client: w.Client, TimeNs: s.TimeNs, Request: req}); err != nil {
					return err
				}
			} else if err := write(RecordWatchResume, &watchResumeLine{ID: w.ID, TimeNs: s.TimeNs, StartRevision: s.StartRevision}); err != nil {
				return err
			}
			for _, resp := range s.Responses {
				if err := write(RecordWatchResponse, &watchResponseLine{ID: w.ID, Response: resp}); err != nil {
					return err
				}
			}
		}
	}
	for i := range h.LeaseExpiries {
		if err := write(RecordLeaseExpiry, &h.LeaseExpiries[i]); err != nil {
			return err
		}
	}
	for i := range h.Faults {
		if err := write(RecordFault, &h.Faults[i]); err != nil {
			return err
		}
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
