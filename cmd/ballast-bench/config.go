package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// config is what every workload shares: where to connect, how many connections and
// clients, how long to run, the keys and values, and how to print. The flags have the
// names and defaults of etcd's tools/benchmark (--endpoints, --conns, --clients,
// --total, --key-size, --val-size, --key-space-size, --sequential-keys), plus --duration
// as an alternative to --total and -json for the summary.
type config struct {
	endpoints   []string
	conns       int
	clients     int
	total       int
	duration    time.Duration
	keySize     int
	valSize     int
	keySpace    int
	seq         bool
	json        bool
	dialTimeout time.Duration
	rate        int

	// progress is where the progress bar goes (os.Stderr; nil: no bar, as with -json).
	progress io.Writer
}

// flags registers the shared flags on a subcommand's flag set; the subcommand adds its own
// and then calls parse.
func (c *config) flags(fs *flag.FlagSet) {
	fs.Func("endpoints", "comma-separated client endpoints (host:port or URLs; default 127.0.0.1:2379)", func(s string) error {
		c.endpoints = nil
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				c.endpoints = append(c.endpoints, e)
			}
		}
		if len(c.endpoints) == 0 {
			return errors.New("no endpoint given")
		}
		return nil
	})
	c.endpoints = []string{"127.0.0.1:2379"}
	fs.IntVar(&c.conns, "conns", 1, "client connections, shared round-robin by the clients")
	fs.IntVar(&c.clients, "clients", 1, "concurrent clients (each has one request in flight)")
	fs.IntVar(&c.total, "total", 10000, "operations in all (see --duration)")
	fs.DurationVar(&c.duration, "duration", 0, "run for this long instead of --total operations (e.g. 10s)")
	fs.IntVar(&c.keySize, "key-size", 8, "key size in bytes")
	fs.IntVar(&c.valSize, "val-size", 8, "value size in bytes")
	fs.IntVar(&c.keySpace, "key-space-size", 1, "number of distinct keys")
	fs.BoolVar(&c.seq, "sequential-keys", false, "keys in order instead of at random")
	fs.BoolVar(&c.json, "json", false, "print the summary as one JSON object (and no progress bar)")
	fs.IntVar(&c.rate, "rate", 0, "most operations started per second, in all (0: no limit)")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 5*time.Second, "dial timeout of each connection")
}

// parse parses args, letting flags and positional arguments mix as etcd's tool (cobra)
// does ("range foo --consistency s"), checks the shared flags and returns the positional
// arguments.
func (c *config) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["total"] && set["duration"] {
		return nil, errors.New("give --total or --duration, not both")
	}
	switch {
	case c.conns < 1:
		return nil, fmt.Errorf("--conns must be at least 1, got %d", c.conns)
	case c.clients < 1:
		return nil, fmt.Errorf("--clients must be at least 1, got %d", c.clients)
	case c.rate < 0:
		return nil, fmt.Errorf("--rate must not be negative, got %d", c.rate)
	case c.duration < 0:
		return nil, fmt.Errorf("--duration must not be negative, got %v", c.duration)
	case c.duration == 0 && c.total < 1:
		return nil, fmt.Errorf("--total must be at least 1, got %d", c.total)
	case c.keySize < 1:
		return nil, fmt.Errorf("--key-size must be at least 1, got %d", c.keySize)
	case c.valSize < 0:
		return nil, fmt.Errorf("--val-size must not be negative, got %d", c.valSize)
	case c.keySpace < 1:
		return nil, fmt.Errorf("--key-space-size must be at least 1, got %d", c.keySpace)
	case c.keySize < 19 && int64(c.keySpace) > pow10(c.keySize):
		return nil, fmt.Errorf("--key-space-size %d does not fit in --key-size %d (keys are decimal numbers)", c.keySpace, c.keySize)
	}
	if c.duration > 0 {
		c.total = 0
	}
	return pos, nil
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// dialFor opens --conns connections for n users of them (clients or streams), refusing
// more connections than users: the extra ones would carry nothing.
func (c *config) dialFor(n int, users string) ([]*clientv3.Client, error) {
	if c.conns > n {
		return nil, usageError{fmt.Sprintf("--conns (%d) is more than %s (%d): the extra connections would carry nothing", c.conns, users, n)}
	}
	return c.dial(c.conns)
}

// dial opens n connections (clientv3 clients, one gRPC connection each) to the endpoints.
func (c *config) dial(n int) ([]*clientv3.Client, error) {
	conns := make([]*clientv3.Client, 0, n)
	for range n {
		cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints, DialTimeout: c.dialTimeout, Logger: zap.NewNop()})
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("connect to %s: %w", strings.Join(c.endpoints, ","), err)
		}
		conns = append(conns, cli)
	}
	return conns, nil
}

// clientsOver gives each of the clients a connection: client i uses conns[i % len(conns)],
// as etcd's tool shares its --conns among its --clients.
func clientsOver(conns []*clientv3.Client, clients int) []*clientv3.Client {
	out := make([]*clientv3.Client, clients)
	for i := range out {
		out[i] = conns[i%len(conns)]
	}
	return out
}

func closeAll(conns []*clientv3.Client) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// benchKey formats key number n in exactly size bytes (zero-padded decimal; the low digits
// when n has more than size).
func benchKey(n, size int) string {
	k := fmt.Sprintf("%0*d", size, n)
	return k[len(k)-size:]
}
