package watch

import (
	"errors"
	"fmt"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// InvalidWatchID is the watch ID of responses about no single watcher: a refused create and
// a stream-wide progress notification (clientv3.InvalidWatchID).
const InvalidWatchID int64 = -1

// AutoWatchID in a create request asks the stream to choose the ID (clientv3.AutoWatchID).
const AutoWatchID int64 = 0

// Stream is one client's watch stream (one gRPC Watch call): it creates and cancels watchers
// and hands out, on Pending, the responses the client may be sent next.
type Stream struct {
	hub *Hub
	id  int64

	watchers []*watcher // sorted by watch ID
	nextID   int64      // next automatic watch ID to try

	control        []*pb.WatchResponse // created and canceled responses, in order
	progressAllDue bool                // a WatchProgressRequest waits for every watcher to be synced
	cursorID       int64               // Pending starts its round at the first watcher >= cursorID
	roundScratch   []*watcher          // reused by roundOrder
	closed         bool
	cutCatchUps    int // catch-up reads that stopped short of the hub's revision (CutCatchUps)
}

// CutCatchUps counts the stream's catch-up reads that were cut at a bound
// (MaxEventsPerResponse or MaxRevisionsPerRead) before the hub's revision: each leaves its
// watcher unsynced for another read, so its catch-up goes out in more than one batch.
func (s *Stream) CutCatchUps() int { return s.cutCatchUps }

func (s *Stream) header() *pb.ResponseHeader {
	return &pb.ResponseHeader{Revision: s.hub.rev}
}

func (s *Stream) find(id int64) (int, bool) {
	i := sort.Search(len(s.watchers), func(i int) bool { return s.watchers[i].id >= id })
	return i, i < len(s.watchers) && s.watchers[i].id == id
}

// Create handles a WatchCreateRequest as etcd's watch server does, and returns the watch ID
// it assigned (InvalidWatchID and the error when refused). Either way the response (Created,
// and Canceled with etcd's CancelReason on refusal) is queued for Pending, ahead of any event
// of the new watcher. start_revision 0 watches from the next revision; one at or below the
// hub's revision catches up from history first; a future one waits for that revision.
func (s *Stream) Create(req *pb.WatchCreateRequest) (int64, error) {
	if s.closed {
		return InvalidWatchID, ErrStreamClosed
	}
	w, err := s.newWatcher(req)
	if err != nil {
		s.Refuse(err)
		return InvalidWatchID, err
	}
	i, _ := s.find(w.id)
	s.watchers = append(s.watchers, nil)
	copy(s.watchers[i+1:], s.watchers[i:])
	s.watchers[i] = w
	s.checkSorted()
	s.control = append(s.control, &pb.WatchResponse{Header: s.header(), WatchId: w.id, Created: true})
	if w.synced {
		s.hub.index.add(w)
	}
	return w.id, nil
}

func (s *Stream) newWatcher(req *pb.WatchCreateRequest) (*watcher, error) {
	if req.StartRevision < 0 {
		return nil, ErrNegativeStartRevision
	}
	rng, err := newKeyRange(req.Key, req.RangeEnd)
	if err != nil {
		return nil, err
	}
	id := req.WatchId
	if id == AutoWatchID {
		for {
			if _, used := s.find(s.nextID); !used {
				break
			}
			s.nextID++
		}
		id = s.nextID
		s.nextID++
	} else if _, used := s.find(id); used {
		return nil, ErrWatcherDuplicateID
	}
	noPut, noDelete := filtersFromRequest(req)
	w := &watcher{
		stream: s, id: id, rng: rng,
		noPut: noPut, noDelete: noDelete, prevKV: req.PrevKv,
		progressNotify: req.ProgressNotify, fragment: req.Fragment,
	}
	h := s.hub
	switch {
	case req.StartRevision == 0:
		w.synced, w.nextRev = true, h.rev+1
	case req.StartRevision > h.rev:
		w.synced, w.nextRev = true, req.StartRevision
	default:
		w.synced, w.nextRev = false, req.StartRevision
	}
	return w, nil
}

// Cancel handles a WatchCancelRequest: the watcher stops, its undelivered events are
// dropped, and a Canceled response is queued. An unknown ID gives ErrWatcherNotExist and
// queues nothing (etcd sends nothing either).
func (s *Stream) Cancel(id int64) error {
	if s.closed {
		return ErrStreamClosed
	}
	if !s.remove(id) {
		return ErrWatcherNotExist
	}
	s.control = append(s.control, &pb.WatchResponse{Header: s.header(), WatchId: id, Canceled: true})
	return nil
}

func (s *Stream) remove(id int64) bool {
	i, ok := s.find(id)
	if !ok {
		return false
	}
	w := s.watchers[i]
	if w.synced {
		s.hub.index.remove(w)
		w.synced = false
	}
	w.canceled = true
	clear(w.buf)
	w.buf, w.bufBytes = nil, 0
	s.watchers = append(s.watchers[:i], s.watchers[i+1:]...)
	return true
}

// RequestProgress handles a WatchProgressRequest: one response with WatchId -1 and the
// hub's revision, sent once every watcher of the stream has delivered everything up to it
// (etcd defers it the same way while a watcher is unsynced). Repeated requests before it is
// sent give one response.
func (s *Stream) RequestProgress() error {
	if s.closed {
		return ErrStreamClosed
	}
	s.progressAllDue = true
	return nil
}

// Close removes every watcher of the stream from the hub; the stream is then unusable.
func (s *Stream) Close() {
	if s.closed {
		return
	}
	for len(s.watchers) > 0 {
		s.remove(s.watchers[0].id)
	}
	s.control = nil
	s.closed = true
	s.hub.removeStream(s)
}

// WatchIDs lists the stream's watch IDs in order.
func (s *Stream) WatchIDs() []int64 {
	ids := make([]int64, len(s.watchers))
	for i, w := range s.watchers {
		ids[i] = w.id
	}
	return ids
}

func (s *Stream) checkSorted() {
	for i := 1; i < len(s.watchers); i++ {
		if s.watchers[i-1].id >= s.watchers[i].id {
			panic(fmt.Sprintf("watch: stream %d watchers out of order: %d before %d", s.id, s.watchers[i-1].id, s.watchers[i].id))
		}
	}
}

// Refuse answers a create request in-band without creating a watcher: Created and Canceled,
// watch ID InvalidWatchID, etcd's CancelReason err's text (a refused permission, say).
func (s *Stream) Refuse(err error) {
	s.control = append(s.control, &pb.WatchResponse{
		Header: s.header(), WatchId: InvalidWatchID, Created: true, Canceled: true, CancelReason: err.Error(),
	})
}

// Handle dispatches one WatchRequest from the client to Create, Cancel or RequestProgress,
// so the gRPC layer is a loop of Recv, Handle and Pending/Send. A refused create is answered
// in-band (a queued response) and a cancel of an unknown ID is ignored, as etcd does; so
// Handle returns an error only when the stream itself cannot go on (closed, or a request
// with no operation), and the caller then ends the gRPC stream.
func (s *Stream) Handle(req *pb.WatchRequest) error {
	if s.closed {
		return ErrStreamClosed
	}
	switch {
	case req.GetCreateRequest() != nil:
		_, _ = s.Create(req.GetCreateRequest())
		return nil
	case req.GetCancelRequest() != nil:
		_ = s.Cancel(req.GetCancelRequest().WatchId)
		return nil
	case req.GetProgressRequest() != nil:
		return s.RequestProgress()
	default:
		return errors.New("watch: WatchRequest with no create, cancel or progress request")
	}
}
