// Package wire is the byte encoding of raft messages between members: members never share
// memory, a malformed or damaged message is rejected with an error naming what is wrong, and
// the decoder can be fuzzed (FuzzDecode, corpus in testdata/fuzz/FuzzDecode).
//
// # Frame
//
//	magic      1 byte   0xBA
//	version    1 byte   1
//	bodyLen    4 bytes  little-endian, the length of body
//	checksum   4 bytes  little-endian, CRC-32C (Castagnoli) of body
//	body       bodyLen bytes:
//	  type      1 byte (raft.MessageType)
//	  flags     1 byte: Reject, LeaderTransfer, has Snapshot, has Context
//	  From, To, Term, LogTerm, Index, Commit, RejectHint, ReadRound   uvarints
//	  Context   uvarint length + bytes           (if flagged)
//	  entries   uvarint count, then per entry: Term uvarint, Type byte, Data uvarint length +
//	            bytes; entry i has index Index+1+i (raft's MsgApp carries the entries right
//	            after (Index, LogTerm)), so the index is not sent
//	  Snapshot  Index, Term uvarints; Voters, Learners: uvarint count + uvarints each; Data
//	            uvarint length + bytes        (if flagged)
//
// The header has a fixed size (HeaderBytes) so a stream reader learns a frame's length from
// it (FrameLen) before reading the body. A frame longer than Codec.MaxFrameBytes is refused
// from its header alone, before anything is allocated.
//
// The encoding is canonical: integers are minimal uvarints (a longer encoding of the same
// value is refused), unknown flag bits are refused, empty byte strings decode as nil (except
// a present Context, which keeps "empty but present"). Hence decoding then encoding a valid
// frame gives the same bytes back, which FuzzDecode checks.
//
// Decoders check what raft would otherwise trip over: a known message type, entries only in
// MsgApp, a snapshot in and only in MsgSnap, known entry types, and counts that fit in the
// body (no allocation is sized by an unchecked count).
//
// # Memory
//
// Decode copies the body once into memory of its own, and the message's byte fields (entry
// Data, Context, Snapshot.Data) point into that copy: the caller may reuse the frame buffer
// at once. DecodeAliased skips the copy: the byte fields alias the frame, which the caller
// must then leave untouched for as long as the message lives. Byte fields are capped slices
// (len == cap), so appending to one never overwrites its neighbour.
//
// Imports: raft and the standard library only.
package wire
