package main

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/peer"
	"github.com/btcsuite/btcd/wire/v2"
)

// invTrickleBatch is the most entries btcd's own relay puts in one inv (the peer
// package's unexported maxInvTrickleSize).
const invTrickleBatch = 1000

type blockResult struct {
	Figure     string    `json:"figure"`
	Bytes      int       `json:"bytes"`
	SamplesMBs []float64 `json:"samples_mb_s"`
	MedianMBs  float64   `json:"median_mb_s"`
}

// runBlock relays `reps` fresh blocks A→B (plus one warm-up) and times each from A
// queuing the inv to B's OnBlock: inv → getdata → block.
func runBlock(size, reps int) (*blockResult, error) {
	if reps < 1 {
		return nil, errors.New("--reps must be at least 1")
	}
	blocks := newStore()
	arrived := make(chan chainhash.Hash, 1)
	onWrite, writeFailed := writeErrors()
	pair, err := newPair(
		peer.MessageListeners{OnGetData: blocks.onGetData, OnWrite: onWrite},
		peer.MessageListeners{
			OnInv: requestAll,
			OnBlock: func(_ *peer.Peer, msg *wire.MsgBlock, _ []byte) {
				arrived <- msg.BlockHash()
			},
		},
	)
	if err != nil {
		return nil, err
	}
	defer pair.close()
	broken := pair.broken()

	result := &blockResult{Figure: "block"}
	for rep := 0; rep <= reps; rep++ {
		block, err := makeBlock(size, uint64(rep))
		if err != nil {
			return nil, err
		}
		hash := block.BlockHash()
		result.Bytes = block.SerializeSize()
		blocks.mu.Lock()
		blocks.blocks[hash] = block
		blocks.mu.Unlock()
		// Collect the building's garbage now rather than during the relay.
		runtime.GC()

		started := time.Now()
		// Block inventory skips the trickle: the queue handler sends it at once.
		pair.a.QueueInventory(wire.NewInvVect(wire.InvTypeBlock, &hash))
		select {
		case got := <-arrived:
			if got != hash {
				return nil, fmt.Errorf("block %d: B received %v, not %v", rep, got, hash)
			}
		case err := <-writeFailed:
			return nil, fmt.Errorf("block of %d bytes: %w", result.Bytes, err)
		case <-broken:
			return nil, fmt.Errorf("block of %d bytes: the peers disconnected", result.Bytes)
		case <-time.After(waitLimit):
			return nil, fmt.Errorf("block of %d bytes: not delivered within %v", result.Bytes, waitLimit)
		}
		elapsed := time.Since(started)

		blocks.mu.Lock()
		delete(blocks.blocks, hash)
		blocks.mu.Unlock()
		if rep == 0 {
			continue // warm-up
		}
		mbs := float64(result.Bytes) / elapsed.Seconds() / 1e6
		result.SamplesMBs = append(result.SamplesMBs, mbs)
		progress("block %d of %d: %d bytes in %v, %.1f MB/s", rep, reps, result.Bytes, elapsed, mbs)
	}
	result.MedianMBs = median(result.SamplesMBs)
	return result, nil
}

type txResult struct {
	Figure    string  `json:"figure"`
	Count     int     `json:"count"`
	Bytes     int     `json:"bytes"`
	InvBatch  int     `json:"inv_batch"`
	TxS       float64 `json:"tx_s"`
	Delivered int64   `json:"delivered"`
}

// runTx announces `count` unique transactions A→B at once and times the first
// announcement to B's last OnTx; B asks for each inv's items in one getdata.
func runTx(count, size, batch int) (*txResult, error) {
	if count < 1 || batch < 1 || batch > wire.MaxInvPerMsg {
		return nil, fmt.Errorf("need --count ≥ 1 and 1 ≤ --inv-batch ≤ %d", wire.MaxInvPerMsg)
	}
	txs := newStore()
	hashes := make([]chainhash.Hash, count)
	for i := range hashes {
		tx, err := makeTx(size, uint64(i))
		if err != nil {
			return nil, err
		}
		hashes[i] = tx.TxHash()
		txs.txs[hashes[i]] = tx
	}
	var delivered atomic.Int64
	done := make(chan time.Time, 1)
	onWrite, writeFailed := writeErrors()
	pair, err := newPair(
		peer.MessageListeners{OnGetData: txs.onGetData, OnWrite: onWrite},
		peer.MessageListeners{
			OnInv: requestAll,
			OnTx: func(*peer.Peer, *wire.MsgTx) {
				if delivered.Add(1) == int64(count) {
					done <- time.Now()
				}
			},
		},
	)
	if err != nil {
		return nil, err
	}
	defer pair.close()
	broken := pair.broken()
	runtime.GC()

	started := time.Now()
	// QueueInventory would hold tx inventory for the trickle (every 10 s by default)
	// and then send it in invs of up to 1000; the same invs are queued here directly
	// with QueueMessage, as p2pnet's bench turns its own trickle off.
	for first := 0; first < count; first += batch {
		inv := wire.NewMsgInvSizeHint(uint(min(batch, count-first)))
		for i := first; i < min(first+batch, count); i++ {
			_ = inv.AddInvVect(wire.NewInvVect(wire.InvTypeTx, &hashes[i]))
		}
		pair.a.QueueMessage(inv, nil)
	}
	var last time.Time
	select {
	case last = <-done:
	case err = <-writeFailed:
	case <-broken:
		err = errors.New("the peers disconnected")
	case <-time.After(waitLimit):
		err = fmt.Errorf("not all delivered within %v", waitLimit)
	}
	if err != nil {
		return nil, fmt.Errorf("%d of %d transactions delivered: %w", delivered.Load(), count, err)
	}
	rate := float64(count) / last.Sub(started).Seconds()
	progress("%d txs of %d bytes in %v, %.0f tx/s", count, size, last.Sub(started), rate)
	return &txResult{
		Figure: "tx", Count: count, Bytes: size, InvBatch: batch,
		TxS: rate, Delivered: delivered.Load(),
	}, nil
}

type latencyResult struct {
	Figure  string  `json:"figure"`
	P50Us   float64 `json:"p50_us"`
	P99Us   float64 `json:"p99_us"`
	Samples int     `json:"samples"`
}

// runLatency sends one transaction at a time A→B (inv → getdata → tx), each after the
// last has reached B's OnTx, and times each from queuing the inv to OnTx. As in
// p2pnet's bench the samples are pooled from several fresh pairs, since where the
// scheduler puts the two sides on a 2-core machine changes a wake-up's cost.
func runLatency(samples, warmup, pairs, size int) (*latencyResult, error) {
	if samples < 1 || pairs < 1 {
		return nil, errors.New("need --samples ≥ 1 and --pairs ≥ 1")
	}
	var latencies []float64
	next := uint64(0)
	for segment := range pairs {
		// Samples split as evenly as they go; the first pairs take any remainder.
		measured := samples / pairs
		if segment < samples%pairs {
			measured++
		}
		txs := newStore()
		arrived := make(chan chainhash.Hash, 1)
		pair, err := newPair(
			peer.MessageListeners{OnGetData: txs.onGetData},
			peer.MessageListeners{
				OnInv: requestAll,
				OnTx:  func(_ *peer.Peer, tx *wire.MsgTx) { arrived <- tx.TxHash() },
			},
		)
		if err != nil {
			return nil, err
		}
		broken := pair.broken()
		for i := 0; i < warmup+measured; i++ {
			tx, err := makeTx(size, next)
			if err != nil {
				pair.close()
				return nil, err
			}
			next++
			hash := tx.TxHash()
			txs.mu.Lock()
			txs.txs[hash] = tx
			txs.mu.Unlock()
			inv := wire.NewMsgInvSizeHint(1)
			_ = inv.AddInvVect(wire.NewInvVect(wire.InvTypeTx, &hash))

			started := time.Now()
			pair.a.QueueMessage(inv, nil) // not QueueInventory: no 10 s trickle
			select {
			case got := <-arrived:
				if got != hash {
					err = fmt.Errorf("B received %v, not %v", got, hash)
				}
			case <-broken:
				err = errors.New("the peers disconnected")
			case <-time.After(waitLimit):
				err = fmt.Errorf("no tx within %v", waitLimit)
			}
			if err != nil {
				pair.close()
				return nil, err
			}
			if i >= warmup {
				latencies = append(latencies, float64(time.Since(started).Nanoseconds())/1e3)
			}
		}
		pair.close()
	}
	result := &latencyResult{
		Figure:  "latency",
		P50Us:   percentile(latencies, 50),
		P99Us:   percentile(latencies, 99),
		Samples: len(latencies),
	}
	progress("latency over %d samples: p50 %.1f µs, p99 %.1f µs", result.Samples, result.P50Us, result.P99Us)
	return result, nil
}

func median(values []float64) float64 {
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	n := len(sorted)
	switch {
	case n == 0:
		return math.NaN()
	case n%2 == 1:
		return sorted[n/2]
	default:
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
}

// percentile is the nearest-rank percentile (p in 0..100), as p2pnet's bench uses.
func percentile(values []float64, p float64) float64 {
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := max(int(math.Ceil(p/100*float64(len(sorted)))), 1)
	return sorted[min(rank, len(sorted))-1]
}
