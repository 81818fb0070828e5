package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Memory (compare --memory-keys N): issue 23's memory goal, measured the same way for both
// stores: a fresh three-member cluster, N keys of 16 bytes with 256-byte values put once
// each (64 clients over 8 connections), then a full scan of every key on every member
// (serializable ranges of 10,000 keys through that member alone, so each member reads
// its own copy), then each member's resident set (VmRSS). The members are processes here,
// not containers, so there is no cgroup figure.

const memoryKeySize = 16

// measureMemory runs the memory measurement on a fresh cluster of store and returns each
// member's RSS in MiB.
func measureMemory(ctx context.Context, store, bin, dir string, n int, progress io.Writer) ([]float64, error) {
	fmt.Fprintf(progress, "compare: memory: starting 3 fresh %s members\n", store)
	c, err := startProcCluster(ctx, store, bin, dir, 60*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	args := []string{"put", "--sequential-keys", "--total", strconv.Itoa(n), "--key-space-size", strconv.Itoa(n),
		"--key-size", strconv.Itoa(memoryKeySize), "--val-size", "256", "--clients", "64", "--conns", "8", "--endpoints", c.endpoints, "-json"}
	fmt.Fprintf(progress, "compare: memory: loading %s: ballast-bench %s\n", store, strings.Join(args, " "))
	lctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	var buf, errBuf bytes.Buffer
	if code := run(lctx, args, &buf, &errBuf); code != 0 {
		return nil, fmt.Errorf("memory: loading %s: exit %d: %s", store, code, strings.TrimSpace(errBuf.String()))
	}
	var r report
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("memory: loading %s: output %q: %w", store, buf.String(), err)
	}
	if r.Ops != n || len(r.Errors) > 0 {
		return nil, fmt.Errorf("memory: loading %s: %d of %d puts succeeded (errors %s)", store, r.Ops, n, formatErrors(r.Errors))
	}
	for _, ep := range strings.Split(c.endpoints, ",") {
		got, err := scanAll(lctx, ep, n)
		if err != nil {
			return nil, fmt.Errorf("memory: scanning %s at %s: %w", store, ep, err)
		}
		if got != n {
			return nil, fmt.Errorf("memory: scanning %s at %s: %d keys, want %d", store, ep, got, n)
		}
	}
	return c.rssMiB()
}

// scanAll reads keys 0..n-1 (memoryKeySize bytes) from the member at ep alone, 10,000 at a
// time, serializably, and returns how many it read.
func scanAll(ctx context.Context, ep string, n int) (int, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	from, end := benchKey(0, memoryKeySize), benchKey(n, memoryKeySize)
	if int64(n) >= pow10(memoryKeySize) {
		return 0, fmt.Errorf("%d keys do not fit in %d digits", n, memoryKeySize)
	}
	read := 0
	for {
		resp, err := cli.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(10000), clientv3.WithSerializable())
		if err != nil {
			return read, err
		}
		read += len(resp.Kvs)
		if !resp.More || len(resp.Kvs) == 0 {
			return read, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
