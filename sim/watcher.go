package sim

import (
	"fmt"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/linearizability/history"
)

// Scenario.Watchers watchers each follow the key space [k, l) from revision 1 on a random
// live member, pulling WatchStream.Pending every 20 ms of virtual time (recorded with the
// arrival time); when the stream fails, is canceled or its member crashes, the watcher
// resumes on a live member from the last revision it saw + 1 (recorded as a resume).
// Scenario.LateWatchers more open at LateWatchersAt, also from revision 1: by then the
// history is long, so their member catches them up in several cut batches. A watch cancelled
// because the revision it needed next was compacted (CompactRevision set) resumes from
// CompactRevision, the oldest revision its member still serves whole, as etcd's clients are
// told to: the revisions between are gone. A watcher opens or resumes only on a member that
// is not paused, and a paused member's stream delivers nothing until it resumes (pause.go).

// Watch polling (virtual time).
const (
	watchPollInterval  = 20 * time.Millisecond
	watchResumeDelay   = 100 * time.Millisecond
	watchMaxPerPoll    = 64
	watchRangeKey      = "k"
	watchRangeEnd      = "l"
	watchStartRevision = 1
)

// watcher follows the whole key space on one member, resuming on a live member from the
// last revision it saw + 1 when its stream fails or its member crashes.
type watcher struct {
	s       *sim
	name    string
	h       *history.WatchHandle
	sm      *simMember
	gen     int
	stream  *node.WatchStream
	lastRev int64
}

func (s *sim) startWatchers(first, n int) {
	for i := first; i < first+n; i++ {
		wt := &watcher{s: s, name: fmt.Sprintf("w%d", i)}
		wt.open(true)
		s.w.after(watchPollInterval, wt.poll)
	}
}

// open creates (first) or resumes the watch on a random live member; with none live it
// tries again later.
func (wt *watcher) open(first bool) {
	s := wt.s
	wt.stream, wt.sm = nil, nil
	live := slices.DeleteFunc(s.c.live(), (*simMember).paused)
	if len(live) == 0 {
		return
	}
	sm := live[s.w.workload.IntN(len(live))]
	st, err := sm.m.NewWatchStream()
	if err != nil {
		return
	}
	start := wt.lastRev + 1
	req := history.WatchRequest{Key: []byte(watchRangeKey), RangeEnd: []byte(watchRangeEnd), StartRevision: start}
	if first {
		wt.h = s.rec.Watch(wt.name, wt.name, req, int64(s.w.now))
	} else {
		wt.h.Resume(start, int64(s.w.now))
	}
	if err := st.Handle(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: req.Key, RangeEnd: req.RangeEnd, StartRevision: start}}}); err != nil {
		s.w.tracef("%s create on %s: %v", wt.name, sm.name, err)
		return
	}
	wt.stream, wt.sm, wt.gen = st, sm, sm.gen
	s.w.tracef("%s watch on %s from %d", wt.name, sm.name, start)
}

func (wt *watcher) poll() {
	s := wt.s
	defer s.w.after(watchPollInterval, wt.poll)
	if wt.h == nil {
		wt.open(true)
		return
	}
	if wt.stream == nil || wt.sm.m == nil || wt.sm.gen != wt.gen {
		wt.open(false)
		return
	}
	if wt.sm.paused() {
		return // a frozen member sends nothing; its stream goes on when it resumes
	}
	resps, err := wt.stream.Pending(watchMaxPerPoll)
	canceled := false
	for _, r := range resps {
		hr := history.WatchResponse{TimeNs: int64(s.w.now), Created: r.Created, Canceled: r.Canceled,
			CancelReason: r.CancelReason, CompactRevision: r.CompactRevision}
		if r.Header != nil {
			hr.Revision, hr.MemberID = r.Header.Revision, r.Header.MemberId
		}
		for _, ev := range r.Events {
			he := history.Event{Type: history.EventPut, KV: kvFromPB(ev.Kv)}
			if ev.Type == mvccpb.DELETE {
				he.Type = history.EventDelete
			}
			if ev.PrevKv != nil {
				p := kvFromPB(ev.PrevKv)
				he.PrevKV = &p
			}
			hr.Events = append(hr.Events, he)
			wt.lastRev = max(wt.lastRev, ev.Kv.ModRevision)
		}
		hr.ProgressNotify = len(hr.Events) == 0 && !r.Created && !r.Canceled && r.CompactRevision == 0
		wt.h.Receive(hr)
		s.w.tracef("%s recv rev=%d events=%d created=%v canceled=%v last=%d", wt.name, hr.Revision, len(hr.Events), r.Created, r.Canceled, wt.lastRev)
		canceled = canceled || r.Canceled
		if r.CompactRevision > 0 {
			wt.lastRev = max(wt.lastRev, r.CompactRevision-1)
		}
	}
	if err != nil || canceled {
		s.w.tracef("%s stream ends (err=%v canceled=%v)", wt.name, err, canceled)
		wt.stream.Close()
		wt.stream = nil
	}
}
