package gen

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/ballastdb/ballast/linearizability/history"
)

// Benchmarks of generation, mutation and the history file round trip, at the sizes the
// checkers are measured on. go test -run '^$' -bench . ./linearizability/gen/

func scaledConfig(ops, clients int) Config {
	cfg := DefaultConfig()
	cfg.Operations = ops
	cfg.Clients = clients
	cfg.Keys = 20
	return cfg
}

func BenchmarkGenerate(b *testing.B) {
	for _, ops := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("ops=%d", ops), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Generate(int64(i), scaledConfig(ops, 8))
			}
			b.ReportMetric(float64(ops)*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

func BenchmarkMutate(b *testing.B) {
	h := Generate(1, DefaultConfig())
	rng := rand.New(rand.NewSource(1))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Mutate(h, MutationKinds[i%len(MutationKinds)], rng)
	}
}

func BenchmarkHistoryFile(b *testing.B) {
	h := Generate(1, scaledConfig(10_000, 8))
	var buf bytes.Buffer
	if _, err := h.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.Run("write", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			var out bytes.Buffer
			if _, err := h.WriteTo(&out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			if _, err := history.Read(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(h.Operations))*float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}
