package sim

import (
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/linearizability/history"
)

// corrupt crashes Targets[0] if it runs (power loss), opens its disk with node.StoreFiles
// (which flushes the WAL's contents into sstables: damage to the newest WAL would read as a
// torn tail and be silently truncated, so the WAL is never the target) and flips one byte of
// one of its live sstables (outside the unchecksummed footer) or of its MANIFEST (in the
// first 32 KiB record block), chosen by three draws of the disk stream: the stream moves the
// same way whichever files Pebble's background work left. A member it crashed restarts
// after Duration; a stopped one stays down until a restart fault, the end of its crash or
// healing. At restart kv/node finds the damage (a strict MANIFEST read before Pebble opens,
// every sstable block's checksum after) and Open fails with node.ErrCorruption; a
// corruption Pebble reports while a member runs stops it the same way at its next Work.
// Either way the member refuses to serve for good: it leaves cluster.members (never
// restarted, never counted in HashKV or convergence, its raft vote lost), the trace says
// "refuses to serve" (naming no file: which file held the damage is Pebble's layout, not the
// logical run) and the history gets a refuse-to-serve fault, open to the end, whose detail
// is the member's error naming the file. A corruption is skipped (traced) when the voters
// lost to corruption (refused, or corrupted and not yet restarted) would, with this one, no
// longer leave a majority of the voters; remove-member counts them the same way. The
// checker and HashKV stay on: a member that served damaged data fails the run
// (TestSilentCorruptionFailsTheRun rewrites a value validly, so no checksum sees it, and the
// run fails on HashKV).

// Where a corruption may land. An sstable's last sstableFooterMargin bytes hold its footer,
// which older table formats do not checksum; the MANIFEST is flipped within its first
// 32 KiB record block, short of the few trailing bytes a block may leave as padding.
const (
	sstableFooterMargin = 64
	manifestFlipLimit   = 32<<10 - 16
	memberDir           = "member"
)

// corrupt flips one byte of sm's store at rest: in one of its live sstables or in its
// MANIFEST, never its WAL (damage to the newest WAL reads as a torn tail and is silently
// truncated; node.StoreFiles flushes what the WAL holds into sstables first). A running
// member is crashed first (power loss) and restarted after dur; a stopped one stays down
// until a Restart, a crash's end or healing restarts it. On restart it must refuse to serve
// (cluster.refuse). Skipped when sm is already gone or corrupted, or when one more voter
// lost for good (refused, or corrupted and not yet restarted) would leave the others no
// majority of the voters.
//
// The file and offset come from the disk stream, three draws whatever the outcome, so the
// stream is consumed the same way whichever files Pebble's background work left. It returns
// the detail for the history record (file, offset, size): not traced, since the layout of
// Pebble's files is not part of the logical run.
func (s *sim) corrupt(sm *simMember, dur time.Duration) string {
	kindDraw, fileDraw, offDraw := s.w.disk.Uint64(), s.w.disk.Uint64(), s.w.disk.Uint64()
	if sm.removed || sm.refused {
		s.w.tracef("%s corrupt skipped: not a member", sm.name)
		return "skipped"
	}
	if sm.corrupted {
		// still down with its damage: a second flip adds nothing (and could undo the first)
		s.w.tracef("%s corrupt skipped: already corrupted", sm.name)
		return "skipped"
	}
	// Members corrupted earlier count as lost before they refuse (they may still be down).
	voters := s.c.voters()
	lost, isVoter := 0, false
	for _, id := range voters {
		if s.c.lost(id) {
			lost++
		}
		isVoter = isVoter || id == sm.id
	}
	if isVoter && !sm.corrupted && len(voters)-(lost+1) < len(voters)/2+1 {
		s.w.tracef("%s corrupt skipped: %d of %d voters already lost to corruption", sm.name, lost, len(voters))
		return "skipped"
	}
	wasUp := sm.m != nil
	if wasUp {
		s.c.crash(sm, "corrupt")
	}
	tables, manifest, err := node.StoreFiles(sm.fs, memberDir)
	if err != nil {
		s.fail(fmt.Sprintf("corrupt %s: %v", sm.name, err))
		return "failed"
	}
	kind, file, limit := "MANIFEST", manifest, int64(manifestFlipLimit)
	if kindDraw%2 == 0 && len(tables) > 0 {
		kind, file, limit = "sstable", tables[fileDraw%uint64(len(tables))], -sstableFooterMargin
	}
	if damageAtRest != nil {
		detail, err := damageAtRest(sm.fs, memberDir)
		if err != nil {
			s.fail(fmt.Sprintf("corrupt %s: %v", sm.name, err))
		}
		sm.corrupted = true
		s.w.tracef("%s corrupt (test damage)", sm.name)
		if wasUp {
			s.w.after(dur, func() { s.c.restart(sm) })
		}
		return detail
	}
	path := sm.fs.PathJoin(memberDir, file)
	size, off, err := flipByte(sm.fs, path, limit, offDraw)
	if err != nil {
		s.fail(fmt.Sprintf("corrupt %s: %v", sm.name, err))
		return "failed"
	}
	sm.corrupted = true
	s.w.tracef("%s corrupt %s", sm.name, kind)
	if wasUp {
		s.w.after(dur, func() { s.c.restart(sm) })
	}
	return fmt.Sprintf("file=%s offset=%d size=%d", file, off, size)
}

// damageAtRest, when set (tests only), replaces the byte flip: it damages the stopped
// member's store in dir in a way no checksum catches (a valid write of a wrong value), to
// prove that a member serving wrong data fails the run.
var damageAtRest func(fs vfs.FS, dir string) (detail string, err error)

// flipByte inverts the byte at draw modulo the flip range of the file at path and syncs it:
// the range is [0, limit) capped at the file's size for limit > 0, [0, size+limit) for
// limit <= 0. It returns the file's size and the offset flipped.
func flipByte(fs vfs.FS, path string, limit int64, draw uint64) (size, off int64, err error) {
	f, err := fs.Open(path)
	if err != nil {
		return 0, 0, err
	}
	data, err := io.ReadAll(f)
	_ = f.Close()
	if err != nil {
		return 0, 0, err
	}
	size = int64(len(data))
	n := min(limit, size)
	if limit <= 0 {
		n = size + limit
	}
	if n <= 0 {
		return size, 0, fmt.Errorf("%s: %d bytes, nothing to flip", path, size)
	}
	off = int64(draw % uint64(n))
	data[off] ^= 0xff
	w, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return size, off, err
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return size, off, err
	}
	if err := w.Sync(); err != nil {
		_ = w.Close()
		return size, off, err
	}
	return size, off, w.Close()
}

// recordRefusal records a member that refused to serve as a fault lasting to the end of the
// run, with the member's error (naming the damaged file) as its detail.
func (s *sim) recordRefusal(sm *simMember, err error) {
	s.rec.Fault(history.Fault{Kind: "refuse-to-serve", Members: []string{sm.name}, StartNs: int64(s.w.now), Detail: err.Error()})
}
