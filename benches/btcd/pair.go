package main

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/peer"
	"github.com/btcsuite/btcd/wire/v2"
)

// waitLimit bounds every wait for a relay to finish; reached only when it is broken.
const waitLimit = 60 * time.Second

// peerConfig is what a regtest node would give the peer package: v1 transport, full
// node with witness services, the newest protocol version.
func peerConfig(listeners peer.MessageListeners) *peer.Config {
	return &peer.Config{
		UserAgentName:    "p2pnet-bench",
		UserAgentVersion: "0.1.0",
		ChainParams:      &chaincfg.RegressionNetParams,
		Services:         wire.SFNodeNetwork | wire.SFNodeWitness,
		Listeners:        listeners,
		// Both peers live in one process and so share the package's record of the
		// version nonces it sent, which would otherwise look like a self-connection.
		AllowSelfConns: true,
	}
}

// pair is two peers over one loopback TCP connection: A dialled out, B accepted.
type pair struct {
	a, b *peer.Peer
}

// newPair connects A to B and returns once both have finished the handshake.
func newPair(a, b peer.MessageListeners) (*pair, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer listener.Close()
	verAcks := make(chan struct{}, 2)
	onVerAck := func(*peer.Peer, *wire.MsgVerAck) { verAcks <- struct{}{} }
	a.OnVerAck, b.OnVerAck = onVerAck, onVerAck

	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- conn
	}()
	address := listener.Addr().String()
	pa, err := peer.NewOutboundPeer(peerConfig(a), address)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("tcp", address)
	if err != nil {
		return nil, err
	}
	pa.AssociateConnection(conn)
	inbound, ok := <-accepted
	if !ok {
		pa.Disconnect()
		return nil, errors.New("the listener accepted nothing")
	}
	pb := peer.NewInboundPeer(peerConfig(b))
	pb.AssociateConnection(inbound)
	p := &pair{a: pa, b: pb}
	for range 2 {
		select {
		case <-verAcks:
		case <-time.After(10 * time.Second):
			p.close()
			return nil, errors.New("no handshake within 10 s")
		}
	}
	// The verack callback runs just before each peer starts its message handlers.
	time.Sleep(20 * time.Millisecond)
	return p, nil
}

func (p *pair) close() {
	p.a.Disconnect()
	p.b.Disconnect()
	p.a.WaitForDisconnect()
	p.b.WaitForDisconnect()
}

// broken is closed once either peer has disconnected.
func (p *pair) broken() <-chan struct{} {
	either := make(chan struct{})
	go func() {
		select {
		case <-p.a.Done():
		case <-p.b.Done():
		}
		close(either)
	}()
	return either
}

// store holds what A answers getdata with, as a node's mempool and block store would.
type store struct {
	mu     sync.RWMutex
	txs    map[chainhash.Hash]*wire.MsgTx
	blocks map[chainhash.Hash]*wire.MsgBlock
}

func newStore() *store {
	return &store{
		txs:    make(map[chainhash.Hash]*wire.MsgTx),
		blocks: make(map[chainhash.Hash]*wire.MsgBlock),
	}
}

// onGetData is A's getdata handler: every requested item it has is queued to the
// peer, one message each, in the order asked; the rest in one notfound.
func (s *store) onGetData(p *peer.Peer, msg *wire.MsgGetData) {
	replies := make([]wire.Message, 0, len(msg.InvList))
	notFound := wire.NewMsgNotFound()
	s.mu.RLock()
	for _, iv := range msg.InvList {
		switch iv.Type {
		case wire.InvTypeTx, wire.InvTypeWitnessTx:
			if tx, ok := s.txs[iv.Hash]; ok {
				replies = append(replies, tx)
				continue
			}
		case wire.InvTypeBlock, wire.InvTypeWitnessBlock:
			if block, ok := s.blocks[iv.Hash]; ok {
				replies = append(replies, block)
				continue
			}
		}
		_ = notFound.AddInvVect(iv)
	}
	s.mu.RUnlock()
	for _, reply := range replies {
		p.QueueMessage(reply, nil)
	}
	if len(notFound.InvList) > 0 {
		p.QueueMessage(notFound, nil)
	}
}

// requestAll is B's inv handler: it records the items as known to the peer (as btcd's
// sync manager does) and asks for all of them in one getdata.
func requestAll(p *peer.Peer, msg *wire.MsgInv) {
	getData := wire.NewMsgGetDataSizeHint(uint(len(msg.InvList)))
	for _, iv := range msg.InvList {
		p.AddKnownInventory(iv)
		_ = getData.AddInvVect(iv)
	}
	p.QueueMessage(getData, nil)
}

// writeErrors returns an OnWrite listener that reports the first failed write, such
// as a message over the wire package's size limit for its type.
func writeErrors() (func(*peer.Peer, int, wire.Message, error), <-chan error) {
	failed := make(chan error, 1)
	return func(_ *peer.Peer, _ int, msg wire.Message, err error) {
		if err == nil {
			return
		}
		select {
		case failed <- fmt.Errorf("sending %s: %w", msg.Command(), err):
		default:
		}
	}, failed
}
