//! Inventory relay of blocks and transactions: item kinds, ids and verdicts, request
//! tracking and bounded caches. Sans-IO pieces the core (`node::relay`) is built from.

pub mod bounded;
pub mod tracker;

use std::sync::Arc;

use crate::wire::transaction::tx_ids;
use crate::wire::{sha256d, Hash256, InvKind};

/// The two kinds of relayed item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Block,
    Tx,
}

impl ItemKind {
    pub fn inv_kind(self) -> InvKind {
        match self {
            ItemKind::Block => InvKind::BLOCK,
            ItemKind::Tx => InvKind::TX,
        }
    }

    /// The type to request the item by from a peer: the witness form (BIP144) from
    /// peers that serve it, which is the form a segwit node validates.
    pub fn request_kind(self, peer_serves_witness: bool) -> InvKind {
        match (self, peer_serves_witness) {
            (ItemKind::Block, true) => InvKind::WITNESS_BLOCK,
            (ItemKind::Tx, true) => InvKind::WITNESS_TX,
            (kind, false) => kind.inv_kind(),
        }
    }

    /// Maps an inventory type to a relayed kind; witness variants count as the base kind,
    /// anything else is not relayed.
    pub fn from_inv(kind: InvKind) -> Option<ItemKind> {
        match kind {
            InvKind::TX | InvKind::WITNESS_TX => Some(ItemKind::Tx),
            InvKind::BLOCK | InvKind::WITNESS_BLOCK => Some(ItemKind::Block),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Block => "block",
            ItemKind::Tx => "tx",
        }
    }
}

/// The node's judgement of a received item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: relay it to peers that do not have it.
    Accepted,
    /// Not relayed, sender not blamed (already known, not interesting, ...).
    Ignored,
    /// Invalid: the sender is penalised and the item is not relayed.
    Invalid,
    /// The node validates asynchronously and reports later with `report_verdict`.
    Pending,
}

/// Computes an item's id from its bytes. Must be pure and thread-safe: it runs on the
/// engine's network threads.
pub type ItemHasher = Arc<dyn Fn(ItemKind, &[u8]) -> Hash256 + Send + Sync>;

/// Says whether the node already has an item, so an announcement of it is not fetched.
/// Runs on the engine's network threads: thread-safe and quick.
pub type HaveFunction = Arc<dyn Fn(ItemKind, &Hash256) -> bool + Send + Sync>;

/// Bitcoin's ids: a transaction's txid (SHA-256d of its serialization without segwit
/// marker, flag and witnesses, so the id is the same whichever form a peer sent), and
/// SHA-256d of a block's 80-byte header. Bytes that are not a well-formed transaction
/// are identified by SHA-256d of the bytes as given.
pub fn bitcoin_item_id(kind: ItemKind, data: &[u8]) -> Hash256 {
    match kind {
        ItemKind::Tx => tx_ids(data).map_or_else(|| sha256d(data), |ids| ids.txid),
        ItemKind::Block => sha256d(data.get(..80).unwrap_or(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_id_hashes_only_the_header() {
        let mut block = vec![7u8; 80];
        let header_id = bitcoin_item_id(ItemKind::Block, &block);
        block.extend_from_slice(&[1, 2, 3]);
        assert_eq!(bitcoin_item_id(ItemKind::Block, &block), header_id);
        assert_ne!(bitcoin_item_id(ItemKind::Tx, &block), header_id);
        assert_eq!(ItemKind::from_inv(InvKind::WITNESS_TX), Some(ItemKind::Tx));
        assert_eq!(ItemKind::from_inv(InvKind::FILTERED_BLOCK), None);
    }

    /// BIP143's native P2WPKH example: its txid is not SHA-256d of the bytes.
    #[test]
    fn segwit_transaction_id_is_its_txid() {
        use crate::wire::transaction::tests::{displayed, hex, BIP143_P2WPKH, BIP143_P2WPKH_TXID};
        let bytes = hex(BIP143_P2WPKH);
        let txid = bitcoin_item_id(ItemKind::Tx, &bytes);
        assert_eq!(txid, displayed(BIP143_P2WPKH_TXID));
        assert_ne!(txid, sha256d(&bytes));
        // Bytes that are no transaction keep the plain hash.
        assert_eq!(
            bitcoin_item_id(ItemKind::Tx, b"not a tx"),
            sha256d(b"not a tx")
        );
    }
}
