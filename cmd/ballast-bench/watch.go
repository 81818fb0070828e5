package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/status"
)

// watchReport is what watch adds to the summary (whose ops, ops/s and quantiles are those
// of the events: the latency from the start of a put to each watcher's event of it).
type watchReport struct {
	Watchers int `json:"watchers"`
	Streams  int `json:"streams"`
	// Puts is the writers' summary (--clients writers, --total puts or --duration).
	Puts summary `json:"puts"`
	// EventsExpected is, over the puts that succeeded, the watchers of each put's key.
	EventsExpected int64 `json:"events_expected"`
}

// watchCommand is the watch workload: --watchers watchers (watcher w on key w modulo the key
// space, so each key has about watchers/key-space-size of them) spread round-robin over
// --streams gRPC watch streams, themselves spread over the --conns connections; all are
// created before the clock starts. Then --clients writers put keys of the key space (as
// put does: in order with --sequential-keys, else at random), each value carrying the
// wall-clock time its put started, so every event's latency is its arrival minus that.
// After the last put, the run waits (at most --event-timeout) for every expected event.
// This is etcd's "benchmark watch-latency" and its watch's put phase in one.
func watchCommand(fs *flag.FlagSet, cfg *config) runFunc {
	watchers := fs.Int("watchers", 100, "watchers in all")
	streams := fs.Int("streams", 10, "gRPC watch streams the watchers share")
	eventTimeout := fs.Duration("event-timeout", 10*time.Second, "how long to wait after the last put for the events not yet seen")
	return func(ctx context.Context, args []string) (report, error) {
		if err := noArgs("watch", args); err != nil {
			return report{}, err
		}
		switch {
		case *watchers < 1:
			return report{}, usageError{fmt.Sprintf("--watchers must be at least 1, got %d", *watchers)}
		case *streams < 1 || *streams > *watchers:
			return report{}, usageError{fmt.Sprintf("--streams must be between 1 and --watchers (%d), got %d", *watchers, *streams)}
		case cfg.valSize < 8:
			return report{}, usageError{fmt.Sprintf("watch needs --val-size of at least 8 (the value carries its put's start time), got %d", cfg.valSize)}
		case *eventTimeout <= 0:
			return report{}, usageError{fmt.Sprintf("--event-timeout must be positive, got %v", *eventTimeout)}
		}
		conns, err := cfg.dialFor(max(*streams, cfg.clients), "--streams and --clients")
		if err != nil {
			return report{}, err
		}
		defer closeAll(conns)
		return runWatch(ctx, cfg, conns, *watchers, *streams, *eventTimeout)
	}
}

// watchStream is one gRPC watch stream and what its receiver collected.
type watchStream struct {
	stream   pb.Watch_WatchClient
	keys     []string // its watchers' keys
	created  chan struct{}
	lat      []time.Duration
	last     time.Time // when the last event arrived
	err      error     // the stream's failure before the end, if any
	canceled int       // watches the server canceled
}

func runWatch(ctx context.Context, cfg *config, conns []*clientv3.Client, watchers, streams int, eventTimeout time.Duration) (report, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	perKey := make([]int64, cfg.keySpace)
	ws := make([]*watchStream, streams)
	for s := range ws {
		st, err := pb.NewWatchClient(conns[s%len(conns)].ActiveConnection()).Watch(sctx)
		if err != nil {
			return report{}, fmt.Errorf("open watch stream %d: %w", s, err)
		}
		ws[s] = &watchStream{stream: st, created: make(chan struct{})}
	}
	for w := range watchers {
		k := w % cfg.keySpace
		perKey[k]++
		ws[w%streams].keys = append(ws[w%streams].keys, benchKey(k, cfg.keySize))
	}
	var observed atomic.Int64
	var ended atomic.Bool
	var wg sync.WaitGroup
	for _, s := range ws {
		for _, key := range s.keys {
			req := &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte(key)}}}
			if err := s.stream.Send(req); err != nil {
				return report{}, fmt.Errorf("create a watcher: %w", err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.receive(&observed, &ended)
		}()
	}
	setup := time.NewTimer(30 * time.Second)
	defer setup.Stop()
	for i, s := range ws {
		select {
		case <-s.created:
			if s.err != nil {
				return report{}, fmt.Errorf("watch stream %d failed while its watchers were created: %w", i, s.err)
			}
		case <-setup.C:
			return report{}, fmt.Errorf("watch stream %d: its %d watchers not all created after 30 s", i, len(s.keys))
		case <-ctx.Done():
			return report{}, ctx.Err()
		}
	}

	val := strings.Repeat("v", cfg.valSize)
	var expected atomic.Int64
	writers := clientsOver(conns, cfg.clients)
	start := time.Now()
	puts := runLoad(ctx, cfg, "watch", writers, func(ctx context.Context, c *clientv3.Client, w, i int) error {
		k := i % cfg.keySpace
		if !cfg.seq {
			k = int(splitmix(uint64(i)) % uint64(cfg.keySpace))
		}
		v := []byte(val)
		binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
		_, err := c.Put(ctx, benchKey(k, cfg.keySize), string(v))
		if err == nil {
			expected.Add(perKey[k])
		}
		return err
	})
	// Wait for the events not yet seen, polling: bounded by eventTimeout.
	deadline := time.Now().Add(eventTimeout)
	for observed.Load() < expected.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	ended.Store(true)
	cancel()
	wg.Wait()

	var lat []time.Duration
	errs := map[string]int{}
	last := start
	for _, s := range ws {
		lat = append(lat, s.lat...)
		if s.last.After(last) {
			last = s.last
		}
		if s.err != nil {
			errs[status.Code(s.err).String()]++
		}
		if s.canceled > 0 {
			errs["WatchCanceled"] += s.canceled
		}
	}
	if n := expected.Load() - int64(len(lat)); n > 0 {
		errs["EventMissing"] += int(n)
	}
	sum := summarize(lat, errs, last.Sub(start))
	return report{Workload: "watch", Conns: cfg.conns, Clients: cfg.clients, summary: sum,
		Watch: &watchReport{Watchers: watchers, Streams: streams, Puts: puts, EventsExpected: expected.Load()}}, nil
}

// receive reads the stream until it ends: created answers (closing s.created when all of
// its watchers have one), then events (their latencies). An error before ended is kept.
func (s *watchStream) receive(observed *atomic.Int64, ended *atomic.Bool) {
	created := 0
	for {
		resp, err := s.stream.Recv()
		if err != nil {
			if !ended.Load() {
				s.err = err
			}
			if created < len(s.keys) {
				close(s.created) // the waiter reads s.err
			}
			return
		}
		now := time.Now()
		if resp.Created {
			created++
			if created == len(s.keys) {
				close(s.created)
			}
		}
		if resp.Canceled {
			s.canceled++
		}
		for _, ev := range resp.Events {
			if ev.Type != mvccpb.PUT || len(ev.Kv.Value) < 8 {
				continue
			}
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(ev.Kv.Value)))
			s.lat = append(s.lat, now.Sub(sent))
			s.last = now
			observed.Add(1)
		}
	}
}

// splitmix is SplitMix64's finaliser: the random key of put number i, the same for every
// writer whatever the interleaving.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
