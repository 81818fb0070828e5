// Command ballast-bench is the load tool for comparing Ballast with etcd, in the
// shape of etcd's tools/benchmark, against any etcd-API endpoints. This first
// slice has the put workload and the summary; issue 23 lists the rest.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/status"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "put" {
		fmt.Fprintln(os.Stderr, "usage: ballast-bench put [flags] (only put exists so far)")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("put", flag.ExitOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated client endpoints")
	clients := fs.Int("clients", 1, "concurrent clients (one connection each)")
	total := fs.Int("total", 10000, "total operations")
	keySize := fs.Int("key-size", 8, "key size in bytes")
	valSize := fs.Int("val-size", 8, "value size in bytes")
	keySpace := fs.Int("key-space-size", 1, "number of distinct keys")
	seq := fs.Bool("sequential-keys", false, "keys in order instead of at random")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	_ = fs.Parse(os.Args[2:])
	s, err := runPut(strings.Split(*endpoints, ","), *clients, *total, *keySize, *valSize, *keySpace, *seq)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ballast-bench:", err)
		os.Exit(1)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(s)
		return
	}
	fmt.Printf("ops %d  %.1f ops/s  p50 %v  p90 %v  p99 %v  p99.9 %v  errors %v\n",
		s.Ops, s.OpsPerS, s.P50, s.P90, s.P99, s.P999, s.Errors)
}

// benchKey formats key number n in exactly size bytes (zero-padded decimal).
func benchKey(n, size int) string {
	k := fmt.Sprintf("%0*d", size, n)
	return k[len(k)-size:]
}

func runPut(eps []string, clients, total, keySize, valSize, keySpace int, seq bool) (summary, error) {
	if clients < 1 || total < 1 || keySpace < 1 || keySize < 1 {
		return summary{}, errors.New("--clients, --total, --key-size and --key-space-size must be at least 1")
	}
	val := strings.Repeat("v", valSize)
	var mu sync.Mutex
	var lat []time.Duration
	errs := map[string]int{}
	next := make(chan int, clients)
	go func() {
		for i := 0; i < total; i++ {
			next <- i
		}
		close(next)
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
		if err != nil {
			return summary{}, err
		}
		defer cli.Close()
		rng := rand.New(rand.NewSource(int64(c)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				k := i % keySpace
				if !seq {
					k = rng.Intn(keySpace)
				}
				t0 := time.Now()
				_, err := cli.Put(context.Background(), benchKey(k, keySize), val)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs[status.Code(err).String()]++
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return summarize(lat, errs, time.Since(start)), nil
}
