//! Inventory relay of blocks and transactions: item kinds, ids and verdicts, request
//! tracking and bounded caches. Sans-IO pieces the core (`node::relay`) is built from.

pub mod bounded;
pub(crate) mod id_hash;
pub mod tracker;

use std::sync::Arc;

use crate::wire::transaction::{has_witness, stripped, stripped_block, tx_ids};
use crate::wire::{sha256d, Hash256, InvKind};

/// Blocks a `headers` message may hold to count as an announcement of new blocks
/// (BIP130); more are a sync answer. Bitcoin Core announces at most this many.
pub const MAX_BLOCKS_TO_ANNOUNCE: usize = 8;

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

    /// Maps an inventory type to a relayed kind; witness variants and MSG_WTX count as
    /// the base kind, anything else is not relayed.
    pub fn from_inv(kind: InvKind) -> Option<ItemKind> {
        match kind {
            InvKind::TX | InvKind::WITNESS_TX | InvKind::WTX => Some(ItemKind::Tx),
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

/// How a peer asked for an item (BIP144, BIP339), as the data provider is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemForm {
    /// By id (txid or block hash), without witnesses: MSG_TX, MSG_BLOCK.
    Legacy,
    /// By id, with witnesses: MSG_WITNESS_TX, MSG_WITNESS_BLOCK.
    Witness,
    /// A transaction by its wtxid, with witnesses: MSG_WTX.
    WitnessByWtxid,
}

impl ItemForm {
    pub fn of(request: InvKind) -> ItemForm {
        match request {
            InvKind::WTX => ItemForm::WitnessByWtxid,
            InvKind::WITNESS_TX | InvKind::WITNESS_BLOCK => ItemForm::Witness,
            _ => ItemForm::Legacy,
        }
    }

    /// The bytes to send for an item held as `data` (its witness form, as the node
    /// hands items to the engine): for a legacy request a segwit transaction or block
    /// is stripped of its witnesses; `None` when `data` is sent as it is.
    pub fn convert(self, kind: ItemKind, data: &[u8]) -> Option<Vec<u8>> {
        match (self, kind) {
            (ItemForm::Legacy, ItemKind::Tx) => stripped(data),
            (ItemForm::Legacy, ItemKind::Block) => stripped_block(data),
            _ => None,
        }
    }
}

/// An item's ids. `id` is the one the engine and the node key it by (from the item
/// hasher: a block's header hash, a transaction's txid by default); a transaction that
/// carries witnesses also has a `wtxid` (SHA-256d of all its bytes, BIP141), by which
/// peers that negotiated BIP339 announce and request it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemIds {
    pub id: Hash256,
    pub wtxid: Option<Hash256>,
}

impl ItemIds {
    /// An item known by one id only.
    pub fn single(id: Hash256) -> ItemIds {
        ItemIds { id, wtxid: None }
    }

    /// Bitcoin's ids ([`bitcoin_item_id`]), a transaction's both from one walk.
    pub fn bitcoin(kind: ItemKind, data: &[u8]) -> ItemIds {
        match (kind, tx_ids(data)) {
            (ItemKind::Tx, Some(ids)) => ItemIds {
                id: ids.txid,
                wtxid: (ids.wtxid != ids.txid).then_some(ids.wtxid),
            },
            _ => ItemIds::single(bitcoin_item_id(kind, data)),
        }
    }

    /// The node's own id for the item, plus the wtxid when the bytes are a segwit
    /// transaction.
    pub fn with_hasher(hasher: &ItemHasher, kind: ItemKind, data: &[u8]) -> ItemIds {
        let wtxid = (kind == ItemKind::Tx && has_witness(data))
            .then(|| tx_ids(data).map(|ids| ids.wtxid))
            .flatten();
        ItemIds {
            id: hasher(kind, data),
            wtxid,
        }
    }

    /// The id a BIP339 peer knows the item by: the wtxid, which for a transaction
    /// without witnesses is its txid.
    pub fn wtxid_or_id(&self) -> Hash256 {
        self.wtxid.unwrap_or(self.id)
    }

    /// Every id of the item, `id` first.
    pub fn all(&self) -> impl Iterator<Item = Hash256> {
        std::iter::once(self.id).chain(self.wtxid)
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
        assert_eq!(ItemKind::from_inv(InvKind::WTX), Some(ItemKind::Tx));
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
        let ids = ItemIds::bitcoin(ItemKind::Tx, &bytes);
        assert_eq!((ids.id, ids.wtxid), (txid, Some(sha256d(&bytes))));
        let legacy = stripped(&bytes).unwrap();
        assert_eq!(
            ItemIds::bitcoin(ItemKind::Tx, &legacy),
            ItemIds::single(txid)
        );
        let custom: ItemHasher = Arc::new(|_, _| [7; 32]);
        let ids = ItemIds::with_hasher(&custom, ItemKind::Tx, &bytes);
        assert_eq!((ids.id, ids.wtxid), ([7; 32], Some(sha256d(&bytes))));
        assert_eq!(
            ids.all().collect::<Vec<_>>(),
            vec![[7; 32], sha256d(&bytes)]
        );
        // Bytes that are no transaction keep the plain hash.
        assert_eq!(
            bitcoin_item_id(ItemKind::Tx, b"not a tx"),
            sha256d(b"not a tx")
        );
    }
}
