package wire

import "testing"

// BenchmarkEncodeMsgApp encodes a MsgApp with 16 entries of 256 bytes into a reused buffer.
func BenchmarkEncodeMsgApp(b *testing.B) {
	m := appMessage(16, 256)
	var c Codec
	buf, err := c.Encode(&m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if buf, err = c.Append(buf[:0], &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMsgApp decodes that frame, owning its memory (Decode) or aliasing the frame
// (DecodeAliased).
func BenchmarkDecodeMsgApp(b *testing.B) {
	m := appMessage(16, 256)
	var c Codec
	frame, err := c.Encode(&m)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		decode func([]byte) error
	}{
		{"copy", func(f []byte) error { _, err := c.Decode(f); return err }},
		{"aliased", func(f []byte) error { _, err := c.DecodeAliased(f); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := bc.decode(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
