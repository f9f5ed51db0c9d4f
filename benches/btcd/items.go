package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// runTag makes this process's transactions and blocks differ from any other run's.
var runTag = func() (tag [8]byte) {
	_, _ = rand.Read(tag[:])
	return tag
}()

// minTxSize is the serialized size of makeTx's transaction with an empty script.
const minTxSize = 119

// makeTx returns a unique, well-formed transaction whose serialization (without
// witness) is `size` bytes: one input spending a made-up outpoint, two P2PKH
// outputs, and a signature script padded to the size (a real one, a signature and
// a public key, is about 107 bytes, which makes a 226-byte tx).
func makeTx(size int, id uint64) (*wire.MsgTx, error) {
	if size < minTxSize {
		return nil, fmt.Errorf("a transaction is at least %d bytes, not %d", minTxSize, size)
	}
	var prev chainhash.Hash
	binary.LittleEndian.PutUint64(prev[:8], id)
	copy(prev[8:16], runTag[:])
	tx := wire.NewMsgTx(wire.TxVersion)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&prev, 0), nil, nil))
	tx.AddTxOut(wire.NewTxOut(50_000, p2pkh(id)))
	tx.AddTxOut(wire.NewTxOut(25_000, p2pkh(^id)))
	// The script's length prefix grows from 1 to 3 bytes at 253.
	scriptLen := size - minTxSize
	if scriptLen >= 0xfd {
		scriptLen -= 2
	}
	script := make([]byte, scriptLen)
	for i := range script {
		script[i] = byte(id>>(8*(i%8))) ^ byte(i)
	}
	tx.TxIn[0].SignatureScript = script
	return tx, nil
}

// p2pkh is a pay-to-pubkey-hash output script for a made-up key hash.
func p2pkh(seed uint64) []byte {
	script := make([]byte, 25)
	script[0], script[1], script[2] = 0x76, 0xa9, 20 // OP_DUP OP_HASH160 PUSH20
	binary.LittleEndian.PutUint64(script[3:], seed)
	copy(script[11:19], runTag[:])
	script[23], script[24] = 0x88, 0xac // OP_EQUALVERIFY OP_CHECKSIG
	return script
}

// blockTxSize is the size of the ordinary transactions a block is filled with.
const blockTxSize = 250

// makeBlock returns a unique, well-formed block of about `size` serialized bytes: a
// header, a coinbase and 250-byte transactions, the last one sized to land on
// `size`. Its header is not mined and its merkle root is not computed; the peer
// package checks neither.
func makeBlock(size int, tag uint64) (*wire.MsgBlock, error) {
	var prev chainhash.Hash
	binary.LittleEndian.PutUint64(prev[:8], tag)
	copy(prev[8:16], runTag[:])
	header := wire.NewBlockHeader(0x20000000, &prev, &chainhash.Hash{}, 0x207fffff, uint32(tag))
	header.Timestamp = time.Unix(time.Now().Unix(), 0)
	block := wire.NewMsgBlock(header)

	coinbase := wire.NewMsgTx(wire.TxVersion)
	height := make([]byte, 12)
	binary.LittleEndian.PutUint64(height[4:], tag)
	copy(height[:4], runTag[:4])
	coinbase.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{}, wire.MaxPrevOutIndex), height, nil))
	coinbase.AddTxOut(wire.NewTxOut(50_0000_0000, p2pkh(tag)))
	_ = block.AddTransaction(coinbase)
	header.MerkleRoot = coinbase.TxHash()

	// Ordinary transactions while at least two more fit, then one to fill the rest.
	// Sizes are added up as we go: the header, the count's prefix, every tx.
	txBytes := coinbase.SerializeSize()
	blockSize := func(txs int) int {
		return wire.MaxBlockHeaderPayload + wire.VarIntSerializeSize(uint64(txs)) + txBytes
	}
	id := tag << 32
	for blockSize(len(block.Transactions)+2)+2*blockTxSize <= size {
		tx, _ := makeTx(blockTxSize, id)
		_ = block.AddTransaction(tx)
		txBytes += blockTxSize
		id++
	}
	last := size - blockSize(len(block.Transactions)+1)
	if last < minTxSize {
		return nil, fmt.Errorf("a block is at least %d bytes, not %d",
			blockSize(len(block.Transactions)+1)+minTxSize, size)
	}
	tx, err := makeTx(last, id)
	if err != nil {
		return nil, err
	}
	_ = block.AddTransaction(tx)
	return block, nil
}
