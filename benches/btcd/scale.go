package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/peer"
	"github.com/btcsuite/btcd/wire/v2"
)

const (
	// holdLimit bounds the wait for every client to finish its handshake.
	holdLimit = 120 * time.Second
	// settle is given after the last handshake for the peers' handlers to start and
	// any deferred allocation, as in p2pnet's bench.
	settle = 1500 * time.Millisecond
	// concurrentDials is how many connections the swarm opens at once, well under
	// the listen backlog.
	concurrentDials = 64
)

type scaleResult struct {
	Figure            string  `json:"figure"`
	Peers             int     `json:"peers"`
	RssKibPerPeer     float64 `json:"rss_kib_per_peer"`
	Handshaken        int64   `json:"handshaken"`
	SecondsToHold     float64 `json:"seconds_to_hold"`
	RssBeforeKib      uint64  `json:"rss_before_kib"`
	RssAfterKib       uint64  `json:"rss_after_kib"`
	HeapKibPerPeer    float64 `json:"heap_kib_per_peer"`
	StackKibPerPeer   float64 `json:"stack_kib_per_peer"`
	GoroutinesPerPeer float64 `json:"goroutines_per_peer"`
}

// runHolder is the measured process: it owns the listener and one btcd inbound peer
// per accepted connection, starts the client swarm as a separate process (so the
// clients' memory is not counted), waits for every handshake and reports its own RSS
// growth per peer. The swarm runs from distinct loopback source addresses, as in
// p2pnet's bench; the peer package itself has no per-address limit anyway.
func runHolder(count int) (*scaleResult, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer listener.Close()
	var handshaken atomic.Int64
	config := peerConfig(peer.MessageListeners{
		// The inbound side's handshake ends when the client's verack arrives.
		OnVerAck: func(*peer.Peer, *wire.MsgVerAck) { handshaken.Add(1) },
	})
	// This side talks only to another process: detect self-connections as a node does.
	config.AllowSelfConns = false
	var mu sync.Mutex
	peers := make([]*peer.Peer, 0, count) // a node keeps its peers; so does this
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			p := peer.NewInboundPeer(config)
			p.AssociateConnection(conn)
			mu.Lock()
			peers = append(peers, p)
			mu.Unlock()
		}
	}()

	time.Sleep(300 * time.Millisecond)
	before := quiesce()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	started := time.Now()
	clients := exec.Command(self, "scale", "--role", "clients",
		"--peers", strconv.Itoa(count), "--target", listener.Addr().String())
	clients.Stderr = os.Stderr
	release, err := clients.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := clients.Start(); err != nil {
		return nil, fmt.Errorf("cannot start the client swarm: %w", err)
	}
	defer func() {
		_ = release.Close() // tells the swarm to exit
		_ = clients.Wait()
	}()

	deadline := time.Now().Add(holdLimit)
	for handshaken.Load() < int64(count) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	seconds := time.Since(started).Seconds()
	if held := handshaken.Load(); held < int64(count) {
		return nil, fmt.Errorf("%d of %d peers handshaken within %v", held, count, holdLimit)
	}
	time.Sleep(settle)
	after := quiesce()

	mu.Lock()
	held := len(peers)
	mu.Unlock()
	perPeer := func(b, a uint64) float64 { return (float64(a) - float64(b)) / float64(count) / 1024 }
	result := &scaleResult{
		Figure:            "scale",
		Peers:             count,
		RssKibPerPeer:     perPeer(before.rss, after.rss),
		Handshaken:        handshaken.Load(),
		SecondsToHold:     seconds,
		RssBeforeKib:      before.rss / 1024,
		RssAfterKib:       after.rss / 1024,
		HeapKibPerPeer:    perPeer(before.heap, after.heap),
		StackKibPerPeer:   perPeer(before.stack, after.stack),
		GoroutinesPerPeer: float64(after.goroutines-before.goroutines) / float64(count),
	}
	progress("%d peers (%d accepted) held in %.2f s: RSS %d → %d KiB, %.1f KiB per peer",
		count, held, seconds, result.RssBeforeKib, result.RssAfterKib, result.RssKibPerPeer)
	return result, nil
}

type memory struct {
	rss, heap, stack uint64
	goroutines       int
}

// quiesce collects garbage, returns freed pages to the OS and reads the process's
// memory: RSS from /proc, and Go's own view of live heap and goroutine stacks.
func quiesce() memory {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(100 * time.Millisecond)
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	return memory{
		rss:        rssBytes(),
		heap:       stats.HeapAlloc,
		stack:      stats.StackInuse,
		goroutines: runtime.NumGoroutine(),
	}
}

// rssBytes is VmRSS from /proc/self/status, or 0 where that cannot be read.
func rssBytes() uint64 {
	status, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer status.Close()
	lines := bufio.NewScanner(status)
	for lines.Scan() {
		if fields := strings.Fields(lines.Text()); len(fields) >= 2 && fields[0] == "VmRSS:" {
			kib, _ := strconv.ParseUint(fields[1], 10, 64)
			return kib * 1024
		}
	}
	return 0
}

// runClients is the swarm: `count` raw sockets from 127.1.x.y that each complete the
// version/verack handshake with wire messages, then answer pings, until stdin closes.
func runClients(target string, count int) error {
	if target == "" {
		return errors.New("clients need --target IP:PORT")
	}
	dials := make(chan struct{}, concurrentDials)
	var ready, failed atomic.Int64
	for i := range count {
		dials <- struct{}{}
		go func() {
			source := &net.TCPAddr{IP: net.IPv4(127, 1, byte(i/250), byte(i%250+1))}
			conn, err := clientHandshake(source, target)
			<-dials
			if err != nil {
				if failed.Add(1) == 1 {
					progress("client from %v: %v", source.IP, err)
				}
				return
			}
			ready.Add(1)
			stayIdle(conn)
		}()
	}
	for range concurrentDials {
		dials <- struct{}{} // every dial has finished
	}
	if n := failed.Load(); n > 0 {
		progress("clients: %d ready, %d failed", ready.Load(), n)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

var regtest = chaincfg.RegressionNetParams.Net

func clientHandshake(source *net.TCPAddr, target string) (net.Conn, error) {
	dialer := net.Dialer{LocalAddr: source, Timeout: 30 * time.Second}
	conn, err := dialer.Dial("tcp", target)
	if err != nil {
		return nil, err
	}
	local := conn.LocalAddr().(*net.TCPAddr)
	remote := conn.RemoteAddr().(*net.TCPAddr)
	nonce, _ := wire.RandomUint64()
	version := wire.NewMsgVersion(wire.NewNetAddress(local, 0), wire.NewNetAddress(remote, 0), nonce, 0)
	version.UserAgent = "/p2pnet-bench-client/"
	pver := wire.ProtocolVersion
	if err := wire.WriteMessage(conn, version, pver, regtest); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(holdLimit))
	for {
		msg, _, err := wire.ReadMessage(conn, pver, regtest)
		switch m := msg.(type) {
		case *wire.MsgVersion:
			err = wire.WriteMessage(conn, wire.NewMsgVerAck(), pver, regtest)
		case *wire.MsgVerAck:
			_ = conn.SetDeadline(time.Time{})
			return conn, nil
		case *wire.MsgPing:
			err = wire.WriteMessage(conn, wire.NewMsgPong(m.Nonce), pver, regtest)
		}
		if err != nil && !errors.Is(err, wire.ErrUnknownMessage) {
			conn.Close()
			return nil, err
		}
	}
}

// stayIdle answers pings until the connection closes.
func stayIdle(conn net.Conn) {
	defer conn.Close()
	for {
		msg, _, err := wire.ReadMessage(conn, wire.ProtocolVersion, regtest)
		if errors.Is(err, wire.ErrUnknownMessage) {
			continue
		}
		if err != nil {
			return
		}
		if ping, ok := msg.(*wire.MsgPing); ok {
			if wire.WriteMessage(conn, wire.NewMsgPong(ping.Nonce), wire.ProtocolVersion, regtest) != nil {
				return
			}
		}
	}
}
