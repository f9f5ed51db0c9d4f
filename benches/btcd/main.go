// Command btcd-bench measures btcd's peer package (github.com/btcsuite/btcd/peer)
// doing the same work as p2pnet's benchmark program, so that benches/p2pnet_bench.rs
// can print both sets of figures in the same run.
//
//	btcd-bench block   --size BYTES --reps N          block relay, MB/s
//	btcd-bench tx      --count N --size BYTES         tx relay, tx/s
//	btcd-bench latency --samples N --warmup N         one-hop tx latency, µs
//	btcd-bench scale   --peers N                      RSS per idle inbound peer, KiB
//
// Each subcommand prints exactly one JSON object, as the last line on stdout; on
// failure that object has an "error" field and the exit status is 1. Progress goes
// to stderr. Everything runs over loopback TCP, v1 transport, regtest parameters.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	command, args := os.Args[1], os.Args[2:]
	flags := flag.NewFlagSet(command, flag.ExitOnError)
	var run func() (any, error)
	switch command {
	case "block":
		size := flags.Int("size", 1<<20, "serialized block size to aim for, bytes")
		reps := flags.Int("reps", 7, "measured repetitions (after one warm-up)")
		run = func() (any, error) { return runBlock(*size, *reps) }
	case "tx":
		count := flags.Int("count", 100_000, "unique transactions to relay")
		size := flags.Int("size", 250, "serialized size of each transaction, bytes")
		batch := flags.Int("inv-batch", invTrickleBatch, "entries per inv message")
		run = func() (any, error) { return runTx(*count, *size, *batch) }
	case "latency":
		samples := flags.Int("samples", 500, "measured samples, pooled over --pairs")
		warmup := flags.Int("warmup", 100, "unmeasured samples first, on each pair")
		pairs := flags.Int("pairs", 4, "fresh peer pairs the samples are pooled from")
		size := flags.Int("size", 250, "serialized size of the transaction, bytes")
		run = func() (any, error) { return runLatency(*samples, *warmup, *pairs, *size) }
	case "scale":
		peers := flags.Int("peers", 10_000, "idle inbound peers to hold")
		role := flags.String("role", "holder", "holder, or clients (started by the holder)")
		target := flags.String("target", "", "the holder's address (clients only)")
		run = func() (any, error) {
			if *role == "clients" {
				// The swarm's stdout is not read; it reports on stderr only.
				return nil, runClients(*target, *peers)
			}
			return runHolder(*peers)
		}
	default:
		usage()
	}
	_ = flags.Parse(args) // ExitOnError: never returns an error
	result, err := run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "btcd-bench %s: %v\n", command, err)
		emit(map[string]string{"figure": command, "error": err.Error()})
		os.Exit(1)
	}
	if result != nil {
		emit(result)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: btcd-bench block|tx|latency|scale [flags] (-h for flags)")
	os.Exit(2)
}

// emit prints v as one line of JSON on stdout.
func emit(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot encode the result: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
}

// progress reports to stderr, which the Rust bench passes through.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "btcd-bench: "+format+"\n", args...)
}
