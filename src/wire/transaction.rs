//! The two ids of a serialized transaction, computed in place.
//!
//! Since segwit a transaction has a txid (double SHA-256 of the serialization
//! *without* the BIP144 marker, flag and witnesses, the id outpoints and the
//! merkle root use) and a wtxid (double SHA-256 of the bytes as relayed, the id
//! BIP339 `wtxidrelay` peers announce). Relaying a `tx` message needs both, but
//! nothing else about the transaction, so rather than decoding it into owned
//! inputs and outputs this module walks the bytes once to find where the
//! witness section lies and feeds the non-witness slices to an incremental
//! SHA-256: no copy of the transaction, no allocation at all.
//!
//! Acceptance follows Bitcoin Core's `UnserializeTransaction` with witnesses
//! allowed (as for a P2P `tx` message), plus its stream rules: CompactSizes
//! must be canonical and at most `MAX_SIZE`, an extended serialization must
//! carry at least one non-empty witness ("Superfluous witness record") and no
//! flag bit other than 1 ("Unknown transaction optional data"). Trailing bytes
//! are rejected too: a `tx` payload is exactly one transaction. Anything Core
//! would refuse yields `None`, so a caller can fall back to hashing the bytes
//! as given.

use sha2::{Digest, Sha256};

use super::{sha256d, Hash256, MAX_COMPACT_SIZE};

/// Both ids of one transaction, in internal byte order (displayed reversed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxIds {
    /// Hash of the serialization without witness data.
    pub txid: Hash256,
    /// Hash of the serialization as given; equals `txid` without witnesses.
    pub wtxid: Hash256,
}

/// Computes the txid and wtxid of the serialized transaction `data`, or `None`
/// when `data` is not exactly one well-formed transaction (see the module
/// documentation for the rules).
pub fn tx_ids(data: &[u8]) -> Option<TxIds> {
    let layout = parse(data)?;
    let wtxid = sha256d(data);
    let txid = match layout {
        Layout::Plain => wtxid,
        Layout::Extended { body_end } => {
            // version ‖ inputs and outputs ‖ lock time: the legacy
            // serialization, read from where each part already lies.
            let mut hasher = Sha256::new();
            hasher.update(data.get(..VERSION_LEN)?);
            hasher.update(data.get(EXTENDED_BODY_START..body_end)?);
            hasher.update(data.get(data.len().checked_sub(LOCK_TIME_LEN)?..)?);
            Sha256::digest(hasher.finalize()).into()
        }
    };
    Some(TxIds { txid, wtxid })
}

/// Whether `data` starts like a segwit (BIP144) serialization: marker 0x00 and
/// flag 0x01 right after the 4-byte version. Says nothing about the rest of
/// the bytes being well formed; [`tx_ids`] checks that.
pub fn has_witness(data: &[u8]) -> bool {
    matches!(
        data.get(VERSION_LEN..EXTENDED_BODY_START),
        Some([0x00, 0x01])
    )
}

/// The legacy serialization (without marker, flag and witnesses) of a segwit
/// transaction, for peers that ask for it by MSG_TX; `None` when `data` has no
/// witness section or is not well formed.
pub fn stripped(data: &[u8]) -> Option<Vec<u8>> {
    if !has_witness(data) {
        return None;
    }
    let Layout::Extended { body_end } = parse(data)? else {
        return None;
    };
    let mut out = Vec::with_capacity(data.len());
    push_legacy(&mut out, data, body_end)?;
    Some(out)
}

/// The legacy serialization of a block holding segwit transactions (every
/// transaction stripped, BIP144), for peers that ask for it by MSG_BLOCK;
/// `None` when no transaction carries witnesses or the block is not well
/// formed (header, transaction count, exactly that many transactions).
pub fn stripped_block(data: &[u8]) -> Option<Vec<u8>> {
    // A first walk checks the block and looks for witnesses, a second copies.
    let mut any_witness = false;
    let txs_start = each_block_tx(data, |_, layout| {
        any_witness |= matches!(layout, Layout::Extended { .. });
        Some(())
    })?;
    if !any_witness {
        return None;
    }
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(data.get(..txs_start)?);
    each_block_tx(data, |tx, layout| match layout {
        Layout::Plain => {
            out.extend_from_slice(tx);
            Some(())
        }
        Layout::Extended { body_end } => push_legacy(&mut out, tx, body_end),
    })?;
    Some(out)
}

/// Calls `f` with each transaction of a well-formed block and its layout;
/// returns where the first transaction starts.
fn each_block_tx(data: &[u8], mut f: impl FnMut(&[u8], Layout) -> Option<()>) -> Option<usize> {
    let mut cursor = Cursor::new(data);
    cursor.skip(BLOCK_HEADER_LEN)?;
    let count = cursor.count(MIN_TX_LEN)?;
    let txs_start = cursor.pos;
    for _ in 0..count {
        let start = cursor.pos;
        let layout = walk(&mut cursor)?;
        f(data.get(start..cursor.pos)?, layout)?;
    }
    (cursor.remaining() == 0).then_some(txs_start)
}

/// Appends the legacy form of the extended transaction `tx`: version, inputs
/// and outputs, lock time.
fn push_legacy(out: &mut Vec<u8>, tx: &[u8], body_end: usize) -> Option<()> {
    out.extend_from_slice(tx.get(..VERSION_LEN)?);
    out.extend_from_slice(tx.get(EXTENDED_BODY_START..body_end)?);
    out.extend_from_slice(tx.get(tx.len().checked_sub(LOCK_TIME_LEN)?..)?);
    Some(())
}

const VERSION_LEN: usize = 4;
const LOCK_TIME_LEN: usize = 4;
/// Offset of the input count in an extended serialization (after version,
/// marker and flag).
const EXTENDED_BODY_START: usize = VERSION_LEN + 2;
/// Smallest possible input: outpoint (32 + 4), empty script (1), sequence (4).
const MIN_INPUT_LEN: usize = 41;
/// Smallest possible output: value (8), empty script (1).
const MIN_OUTPUT_LEN: usize = 9;
/// Smallest possible transaction: version, empty input count, flag 0 (Core's
/// empty transaction), lock time.
const MIN_TX_LEN: usize = 10;
/// A block header's size, before the transaction count.
const BLOCK_HEADER_LEN: usize = 80;
/// Smallest possible witness stack or stack item: its CompactSize count.
const MIN_WITNESS_ENTRY_LEN: usize = 1;

/// What [`parse`] learned about a well-formed serialization.
#[derive(Debug, PartialEq, Eq)]
enum Layout {
    /// No marker and flag: the bytes are their own legacy serialization.
    Plain,
    /// Marker and flag present; the inputs and outputs occupy
    /// `EXTENDED_BODY_START..body_end`, the witnesses follow.
    Extended { body_end: usize },
}

/// Walks one transaction with Bitcoin Core's deserialization rules, checking
/// bounds only and keeping nothing; the bytes must hold exactly one.
fn parse(data: &[u8]) -> Option<Layout> {
    let mut cursor = Cursor::new(data);
    let layout = walk(&mut cursor)?;
    (cursor.remaining() == 0).then_some(layout)
}

/// Walks one transaction from the cursor's position to its end. Offsets in the
/// layout are into the cursor's whole slice.
fn walk(cursor: &mut Cursor<'_>) -> Option<Layout> {
    let start = cursor.pos;
    cursor.skip(VERSION_LEN)?;
    // Core reads the input count first; zero there is either the segwit
    // marker or a genuinely empty input list, and the next byte decides.
    let mut inputs = cursor.count(MIN_INPUT_LEN)?;
    let mut flags = 0u8;
    if inputs == 0 {
        flags = cursor.read_u8()?;
        if flags != 0 {
            inputs = cursor.count(MIN_INPUT_LEN)?;
            skip_inputs_and_outputs(cursor, inputs)?;
        }
        // With flags == 0 Core reads no outputs: that is its empty
        // transaction, whose bytes are their own legacy serialization.
    } else {
        skip_inputs_and_outputs(cursor, inputs)?;
    }
    let layout = if flags == 0 {
        Layout::Plain
    } else {
        Layout::Extended {
            body_end: cursor.pos - start,
        }
    };
    if flags & 1 != 0 {
        flags ^= 1;
        let mut any_witness = false;
        for _ in 0..inputs {
            let items = cursor.count(MIN_WITNESS_ENTRY_LEN)?;
            any_witness |= items != 0;
            for _ in 0..items {
                let len = cursor.compact_size()?;
                cursor.skip(len)?;
            }
        }
        if !any_witness {
            // Core: "Superfluous witness record".
            return None;
        }
    }
    if flags != 0 {
        // Core: "Unknown transaction optional data".
        return None;
    }
    cursor.skip(LOCK_TIME_LEN)?;
    Some(layout)
}

/// Skips `inputs` inputs, then the output count and the outputs.
fn skip_inputs_and_outputs(cursor: &mut Cursor<'_>, inputs: usize) -> Option<()> {
    for _ in 0..inputs {
        cursor.skip(32 + 4)?; // outpoint
        let script_len = cursor.compact_size()?;
        cursor.skip(script_len)?;
        cursor.skip(4)?; // sequence
    }
    let outputs = cursor.count(MIN_OUTPUT_LEN)?;
    for _ in 0..outputs {
        cursor.skip(8)?; // value
        let script_len = cursor.compact_size()?;
        cursor.skip(script_len)?;
    }
    Some(())
}

/// `value` if it needed the CompactSize width it was read with (`min` is the
/// smallest value that does); one value must have one encoding.
fn canonical(value: u64, min: u64) -> Option<u64> {
    (value >= min).then_some(value)
}

/// A bounds-checked read position in a byte slice. Every method returns `None`
/// instead of reading past the end.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn read_u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn read_array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// A CompactSize under Core's rules: shortest encoding only, value at most
    /// `MAX_SIZE`.
    fn compact_size(&mut self) -> Option<usize> {
        let value = match self.read_u8()? {
            tag @ 0..=0xFC => u64::from(tag),
            0xFD => canonical(u16::from_le_bytes(self.read_array()?).into(), 0xFD)?,
            0xFE => canonical(u32::from_le_bytes(self.read_array()?).into(), 0x1_0000)?,
            0xFF => canonical(u64::from_le_bytes(self.read_array()?), 0x1_0000_0000)?,
        };
        if value > MAX_COMPACT_SIZE {
            return None;
        }
        usize::try_from(value).ok()
    }

    /// A CompactSize count of entries at least `min_entry_len` bytes long,
    /// refused up front when the bytes left cannot hold that many: a claimed
    /// count never drives work beyond the input's length.
    fn count(&mut self, min_entry_len: usize) -> Option<usize> {
        let count = self.compact_size()?;
        if count > self.remaining().checked_div(min_entry_len)? {
            return None;
        }
        Some(count)
    }
}

/// Vectors here are shared with the relay and core tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Hex to bytes, ignoring whitespace so vectors can be wrapped.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        assert!(digits.len().is_multiple_of(2), "odd hex length");
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// A txid/wtxid as displayed (block explorers, RPC) to internal order.
    pub(crate) fn displayed(s: &str) -> Hash256 {
        let mut id: Hash256 = hex(s).try_into().unwrap();
        id.reverse();
        id
    }

    fn ids(data: &[u8]) -> TxIds {
        tx_ids(data).expect("well-formed transaction")
    }

    // ------------------------------------------------------------ vectors

    /// BIP143 "Native P2WPKH" signed transaction (bitcoin/bips
    /// bip-0143.mediawiki). Input 0 is P2PK with an empty witness, input 1
    /// P2WPKH. Ids as published alongside it by wallet libraries (e.g. Trust
    /// Wallet core's BIP143 test, bitcoinjs' fixtures `txid`/`hash`).
    pub(crate) const BIP143_P2WPKH: &str = "
        01000000000102fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f00000000
        494830450221008b9d1dc26ba6a9cb62127b02742fa9d754cd3bebf337f7a55d114c8e5cdd30be02204052
        9b194ba3f9281a99f2b1c0a19c0489bc22ede944ccf4ecbab4cc618ef3ed01eeffffffef51e1b804cc89d1
        82d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb2060000000019
        76a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e
        4dbe6a21b2d50ce2f0167faa815988ac000247304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0
        d5447a12fb1366d7f01cc44a0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de6
        7eebee0121025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee635711000000";
    pub(crate) const BIP143_P2WPKH_TXID: &str =
        "e8151a2af31c368a35053ddd4bdb285a8595c769a3ad83e0fa02314a602d4609";
    const BIP143_P2WPKH_WTXID: &str =
        "c36c38370907df2324d9ce9d149d191192f338b37665a82e78e76a12c909b762";

    /// BIP143 "P2SH-P2WPKH" signed transaction (same source).
    const BIP143_P2SH_P2WPKH: &str = "
        01000000000101db6b1b20aa0fd7b23880be2ecbd4a98130974cf4748fb66092ac4d3ceb1a547701000000
        1716001479091972186c449eb1ded22b78e40d009bdf0089feffffff02b8b4eb0b000000001976a914a457
        b684d7f0d539a46a45bbc043f35b59d0d96388ac0008af2f000000001976a914fd270b1ee6abcaea97fea7
        ad0402e8bd8ad6d77c88ac02473044022047ac8e878352d3ebbde1c94ce3a10d057c24175747116f8288e5
        d794d12d482f0220217f36a485cae903c713331d877c1f64677e3622ad4010726870540656fe9dcb012103
        ad1d8e89212f0b92c74d23bb710c00662ad1470198ac48c43f7d6f93a2a2687392040000";
    const BIP143_P2SH_P2WPKH_TXID: &str =
        "ef48d9d0f595052e0f8cdcf825f7a5e50b6a388a81f206f3f4846e5ecd7a0c23";
    const BIP143_P2SH_P2WPKH_WTXID: &str =
        "680f483b2bf6c5dcbf111e69e885ba248a41a5e92070cfb0afec3cfc49a9fabb";

    /// Mainnet segwit transaction c06aaaa2…954d (one P2WPKH input), from
    /// learnmeabitcoin.com's wTXID page, which publishes both ids.
    const MAINNET_SEGWIT: &str = "
        01000000000101438afdb24e414d54cc4a17a95f3d40be90d23dfeeb07a48e9e782178efddd88901000000
        00fdffffff020db9a60000000000160014b549d227c9edd758288112fe3573c1f85240166880a812010000
        00001976a914ae28f233464e6da03c052155119a413d13f3380188ac024730440220200254b765f2512633
        4b8de16ee4badf57315c047243942340c16cffd9b11196022074a9476633f093f229456ad904a9d97e26c2
        71fc4f01d0501dec008e4aae71c2012102c37a3c5b21a5991d3d7b1e203be195be07104a1a19e5c2ed8232
        9a56b431213000000000";
    const MAINNET_SEGWIT_TXID: &str =
        "c06aaaa2753dc4e74dd4fe817522dc3c126fd71792dd9acfefdaff11f8ff954d";
    const MAINNET_SEGWIT_WTXID: &str =
        "f12d56f2234e809129dbf59392961bbe7a89b6250651f6aea7852cc00ced63ff";

    /// The genesis block's coinbase (legacy serialization).
    const GENESIS_COINBASE: &str = "
        01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04
        ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e20
        6272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01
        000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4c
        ef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000";
    const GENESIS_COINBASE_TXID: &str =
        "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";
    /// The genesis block header; its merkle root (bytes 36..68) is the
    /// coinbase txid, so the id is anchored in the chain itself.
    const GENESIS_HEADER: &str = "
        0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12
        b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

    /// Block 170's payment from Satoshi to Hal Finney, the first transaction
    /// that spends an output (legacy, P2PK).
    const BLOCK_170_TX: &str = "
        0100000001c997a5e56e104102fa209c6a852dd90660a20b2d9c352423edce25857fcd3704000000004847
        304402204e45e16932b8af514961a1d3a1a25fdf3f4f7732e9d624c6c61548ab5fb8cd410220181522ec8e
        ca07de4860a4acdd12909d831cc56cbbac4622082221a8768d1d0901ffffffff0200ca9a3b000000004341
        04ae1a62fe09c5f51b13905f07f06b99a2f7159b2225f374cd378d71302fa28414e7aab37397f554a7df5f
        142c21c1b7303b8a0626f1baded5c72a704f7e6cd84cac00286bee0000000043410411db93e1dcdb8a016b
        49840f8c53bc1eb68a382e97b1482ecad7b148a6909a5cb2e0eaddfb84ccf9744464f82e160bfa9b8b64f9
        d4c03f999b8643f656b412a3ac00000000";
    const BLOCK_170_TXID: &str = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16";

    /// A mainnet P2SH-P2WPKH transaction (2018, lock time 512713) and the
    /// mainnet transaction that spends it, both from rust-bitcoin's
    /// `test_transaction_verify`. The spender's input 1 names the first one's
    /// txid as its outpoint, so that txid is checked against what the chain
    /// itself recorded rather than against anyone's computation. The spender
    /// mixes a legacy input (empty witness) with two segwit ones.
    const MAINNET_SPENT: &str = "
        0200000000010166c3d39490dc827a2594c7b17b7d37445e1f4b372179649cd2ce4475e3641bbb01000000
        17160014e69aa750e9bff1aca1e32e57328b641b611fc817fdffffff01e87c5d010000000017a914f3890d
        a1b99e44cd3d52f7bcea6a1351658ea7be87024830450221009eb97597953dc288de30060ba02d4e91b2bd
        e1af2ecf679c7f5ab5989549aa8002202a98f8c3bd1a5a31c0d72950dd6e2e3870c6c5819a6c3db740e91e
        bbbc5ef4800121023f3d3b8e74b807e32217dea2c75c8d0bd46b8665b3a2d9b3cb310959de52a09bc9d207
        00";
    const MAINNET_SPENDER: &str = "
        020000000001031cfbc8f54fbfa4a33a30068841371f80dbfe166211242213188428f437445c9100000000
        6a47304402206fbcec8d2d2e740d824d3d36cc345b37d9f65d665a99f5bd5c9e8d42270a03a80220139596
        32492332200c2908459547bf8dbf97c65ab1a28dec377d6f1d41d3d63e012103d7279dfb90ce17fe139ba6
        0a7c41ddf605b25e1c07a4ddcb9dfef4e7d6710f48feffffff476222484f5e35b3f0e43f65fc76e21d8be7
        818dd6a989c160b1e5039b7835fc00000000171600140914414d3c94af70ac7e25407b0689e0baa10c77fe
        ffffffa83d954a62568bbc99cc644c62eb7383d7c2a2563041a0aeb891a6a4055895570000000017160014
        795d04cc2d4f31480d9a3710993fbd80d04301dffeffffff06fef72f000000000017a91476fd7035cd26f1
        a32a5ab979e056713aac25796887a5000f00000000001976a914b8332d502a529571c6af4be66399cd3337
        9071c588ac3fda0500000000001976a914fc1d692f8de10ae33295f090bea5fe49527d975c88ac522e1b00
        000000001976a914808406b54d1044c429ac54c0e189b0d8061667e088ac6eb68501000000001976a914df
        ab6085f3a8fb3e6710206a5a959313c5618f4d88acbba20000000000001976a914eb3026552d7e3f307345
        7d0bee5d4757de48160d88ac0002483045022100bee24b63212939d33d513e767bc79300051f7a0d433c3f
        cf1e0e3bf03b9eb1d70220588dc45a9ce3a939103b4459ce47500b64e23ab118dfc03c9caa7d6bfc32b9c6
        01210354fd80328da0f9ae6eef2b3a81f74f9a6f66761fadf96f1d1d22b1fd6845876402483045022100e2
        9c7e3a5efc10da6269e5fc20b6a1cb8beb92130cc52c67e46ef40aaa5cac5f0220644dd1b049727d991aec
        e98a105563416e10a5ac4221abac7d16931842d5c322012103960b87412d6e169f30e12106bdf70122aabb
        9eb61f455518322a18b920a4dfa887d30700";
    /// The spender's input-1 outpoint hash, copied from its bytes (internal
    /// order, as outpoints are serialized).
    const MAINNET_SPENDER_INPUT_1_PREVOUT: &str =
        "476222484f5e35b3f0e43f65fc76e21d8be7818dd6a989c160b1e5039b7835fc";

    /// BIP143 "Native P2WPKH" before signing: two inputs, legacy form. Used to
    /// build extended serializations by hand.
    const BIP143_P2WPKH_UNSIGNED: &str = "
        0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f000000000
        0eeffffffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ff
        ffffff02202cb206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d00
        0000001976a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac11000000";

    /// Every well-formed segwit vector, for the malformation sweeps.
    fn segwit_vectors() -> Vec<Vec<u8>> {
        [
            BIP143_P2WPKH,
            BIP143_P2SH_P2WPKH,
            MAINNET_SEGWIT,
            MAINNET_SPENT,
            MAINNET_SPENDER,
        ]
        .iter()
        .map(|v| hex(v))
        .collect()
    }

    /// `legacy` re-serialized in extended form with the given per-input
    /// witness bytes (each already a serialized stack).
    fn extend(legacy: &[u8], flag: u8, witnesses: &[&[u8]]) -> Vec<u8> {
        let lock_time_at = legacy.len() - 4;
        let mut out = legacy[..4].to_vec();
        out.extend_from_slice(&[0x00, flag]);
        out.extend_from_slice(&legacy[4..lock_time_at]);
        for witness in witnesses {
            out.extend_from_slice(witness);
        }
        out.extend_from_slice(&legacy[lock_time_at..]);
        out
    }

    // ------------------------------------------------------------ published ids

    #[test]
    fn bip143_vectors_match_published_ids() {
        for (tx, txid, wtxid) in [
            (BIP143_P2WPKH, BIP143_P2WPKH_TXID, BIP143_P2WPKH_WTXID),
            (
                BIP143_P2SH_P2WPKH,
                BIP143_P2SH_P2WPKH_TXID,
                BIP143_P2SH_P2WPKH_WTXID,
            ),
        ] {
            let bytes = hex(tx);
            assert!(has_witness(&bytes));
            assert_eq!(
                ids(&bytes),
                TxIds {
                    txid: displayed(txid),
                    wtxid: displayed(wtxid)
                }
            );
        }
    }

    #[test]
    fn mainnet_segwit_tx_matches_published_ids() {
        let bytes = hex(MAINNET_SEGWIT);
        assert!(has_witness(&bytes));
        let got = ids(&bytes);
        assert_eq!(got.txid, displayed(MAINNET_SEGWIT_TXID));
        assert_eq!(got.wtxid, displayed(MAINNET_SEGWIT_WTXID));
    }

    #[test]
    fn mainnet_segwit_txid_is_the_outpoint_its_spender_names() {
        let spender = hex(MAINNET_SPENDER);
        // Input 1's outpoint hash follows the version (4), marker and flag
        // (2), input count (1) and input 0 (outpoint 36, script length 1,
        // script 0x6a, sequence 4). Outpoints are in internal order.
        let input_1 = 4 + 2 + 1 + 36 + 1 + 0x6a + 4;
        let prevout = &spender[input_1..input_1 + 32];
        assert_eq!(prevout, hex(MAINNET_SPENDER_INPUT_1_PREVOUT));

        let spent = hex(MAINNET_SPENT);
        let got = ids(&spent);
        assert_eq!(got.txid, prevout);
        assert_eq!(got.wtxid, sha256d(&spent));
        assert_ne!(got.txid, got.wtxid);

        let got = ids(&spender);
        assert_eq!(got.wtxid, sha256d(&spender));
        assert_ne!(got.txid, got.wtxid);
    }

    #[test]
    fn legacy_mainnet_txs_match_published_ids() {
        for (tx, txid) in [
            (GENESIS_COINBASE, GENESIS_COINBASE_TXID),
            (BLOCK_170_TX, BLOCK_170_TXID),
        ] {
            let bytes = hex(tx);
            assert!(!has_witness(&bytes));
            let got = ids(&bytes);
            assert_eq!(got.txid, displayed(txid));
            // No witness: both ids are the hash of the bytes as given.
            assert_eq!(got.wtxid, got.txid);
            assert_eq!(got.txid, sha256d(&bytes));
        }
        // The genesis header commits to the coinbase txid as its merkle root.
        let header = hex(GENESIS_HEADER);
        assert_eq!(header[36..68], ids(&hex(GENESIS_COINBASE)).txid);
    }

    #[test]
    fn txid_is_the_hash_of_the_legacy_serialization() {
        // Any non-empty witness on any input leaves the txid alone: it is the
        // hash of the witness-free bytes.
        let legacy = hex(BIP143_P2WPKH_UNSIGNED);
        let legacy_hash = sha256d(&legacy);
        for witnesses in [
            [&[0x00][..], &[0x01, 0x00][..]],                   // one empty item
            [&[0x02, 0x01, 0xAA, 0x00][..], &[0x00][..]],       // two items
            [&[0x01, 0x02, 0xBB, 0xCC][..], &[0x01, 0x00][..]], // both inputs
        ] {
            let extended = extend(&legacy, 0x01, &witnesses);
            let got = ids(&extended);
            assert_eq!(got.txid, legacy_hash);
            assert_eq!(got.wtxid, sha256d(&extended));
            assert_ne!(got.txid, got.wtxid);
        }
        assert_eq!(
            ids(&legacy),
            TxIds {
                txid: legacy_hash,
                wtxid: legacy_hash
            }
        );
    }

    #[test]
    fn empty_transaction_is_accepted_like_core() {
        // Version, then an empty input list and a zero "flag": Core reads a
        // transaction with no inputs and no outputs (rejected later by
        // consensus checks, not by deserialization). Its bytes are their own
        // legacy serialization.
        let bytes = hex("02000000 00 00 00000000");
        assert!(!has_witness(&bytes));
        let got = ids(&bytes);
        assert_eq!(got.txid, sha256d(&bytes));
        assert_eq!(got.wtxid, got.txid);
    }

    // ------------------------------------------------------------ malformed

    #[test]
    fn every_truncation_is_rejected() {
        let mut vectors = segwit_vectors();
        vectors.push(hex(GENESIS_COINBASE));
        vectors.push(hex(BLOCK_170_TX));
        for bytes in vectors {
            assert!(tx_ids(&bytes).is_some());
            for len in 0..bytes.len() {
                assert_eq!(
                    tx_ids(&bytes[..len]),
                    None,
                    "prefix of {len} bytes accepted"
                );
            }
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut vectors = segwit_vectors();
        vectors.push(hex(BLOCK_170_TX));
        for bytes in vectors {
            for extra in [&[0x00][..], &[0x01, 0x02, 0x03]] {
                let mut padded = bytes.clone();
                padded.extend_from_slice(extra);
                assert_eq!(tx_ids(&padded), None);
            }
        }
    }

    #[test]
    fn unknown_flags_are_rejected() {
        // BIP144 defines only flag 1; Core refuses any other bit.
        let legacy = hex(BIP143_P2WPKH_UNSIGNED);
        assert_eq!(tx_ids(&extend(&legacy, 0x02, &[])), None);
        let witnesses: [&[u8]; 2] = [&[0x00], &[0x01, 0x00]];
        assert!(tx_ids(&extend(&legacy, 0x01, &witnesses)).is_some());
        assert_eq!(tx_ids(&extend(&legacy, 0x03, &witnesses)), None);
        assert_eq!(tx_ids(&extend(&legacy, 0x81, &witnesses)), None);

        let mut signed = hex(BIP143_P2WPKH);
        signed[5] = 0x02;
        assert_eq!(tx_ids(&signed), None);
    }

    #[test]
    fn superfluous_witness_record_is_rejected() {
        // Marker and flag with every witness stack empty: Core's "Superfluous
        // witness record".
        let legacy = hex(BIP143_P2WPKH_UNSIGNED);
        assert_eq!(tx_ids(&extend(&legacy, 0x01, &[&[0x00], &[0x00]])), None);
        // Likewise with no inputs at all.
        assert_eq!(tx_ids(&hex("01000000 0001 00 00 00000000")), None);
        // Control: one empty *item* makes a non-empty stack, which is allowed.
        assert!(tx_ids(&extend(&legacy, 0x01, &[&[0x00], &[0x01, 0x00]])).is_some());
    }

    #[test]
    fn non_canonical_compact_sizes_are_rejected() {
        // The BIP143 unsigned tx with its input count (0x02) spelled 0xFD 0x0200.
        let legacy = hex(BIP143_P2WPKH_UNSIGNED);
        let mut long_form = legacy[..4].to_vec();
        long_form.extend_from_slice(&[0xFD, 0x02, 0x00]);
        long_form.extend_from_slice(&legacy[5..]);
        assert_eq!(tx_ids(&long_form), None);
    }

    #[test]
    fn absurd_counts_are_refused_before_any_work() {
        // Counts at and beyond MAX_SIZE, and ones merely larger than the bytes
        // left could hold, in each counted position.
        let version = "01000000";
        for count in [
            "fe00000002",
            "fe01000002",
            "ffffffffffffffffff",
            "fd0001",
            "05",
        ] {
            let input_count = hex(&format!("{version}{count}{}", "00".repeat(64)));
            assert_eq!(tx_ids(&input_count), None);
            let extended = hex(&format!("{version}0001{count}{}", "00".repeat(64)));
            assert_eq!(tx_ids(&extended), None);
        }
        // The cursor itself rejects the count without consuming entries.
        let data = hex("fe00000002 00000000000000000000");
        let mut cursor = Cursor::new(&data);
        assert_eq!(cursor.count(MIN_INPUT_LEN), None);
        let data = hex("04 00000000");
        assert_eq!(Cursor::new(&data).count(1), Some(4));
        assert_eq!(Cursor::new(&data).count(2), None);
    }

    #[test]
    fn stripped_form_is_the_legacy_serialization() {
        let signed = hex(BIP143_P2WPKH);
        let legacy = stripped(&signed).expect("segwit");
        assert_eq!(sha256d(&legacy), tx_ids(&signed).unwrap().txid);
        assert_eq!(
            tx_ids(&legacy).unwrap().wtxid,
            tx_ids(&signed).unwrap().txid
        );
        assert_eq!(stripped(&legacy), None, "already legacy");
        assert_eq!(stripped(&signed[..signed.len() - 1]), None);
    }

    /// A block of the given transactions under a dummy header.
    fn block_of(txs: &[Vec<u8>]) -> Vec<u8> {
        let mut block = vec![0x42; BLOCK_HEADER_LEN];
        block.push(txs.len() as u8);
        for tx in txs {
            block.extend_from_slice(tx);
        }
        block
    }

    #[test]
    fn stripped_block_strips_every_segwit_transaction_and_keeps_the_rest() {
        let legacy = hex(BLOCK_170_TX);
        let segwit = [hex(BIP143_P2WPKH), hex(MAINNET_SEGWIT)];
        let block = block_of(&[legacy.clone(), segwit[0].clone(), segwit[1].clone()]);
        let expected = block_of(&[
            legacy.clone(),
            stripped(&segwit[0]).unwrap(),
            stripped(&segwit[1]).unwrap(),
        ]);
        assert_eq!(stripped_block(&block), Some(expected));
        assert_eq!(
            stripped_block(&block_of(&[legacy.clone(), legacy.clone()])),
            None,
            "nothing to strip"
        );
        assert_eq!(stripped_block(&block[..block.len() - 1]), None, "truncated");
        let mut trailing = block.clone();
        trailing.push(0);
        assert_eq!(stripped_block(&trailing), None, "bytes after the last tx");
        let mut short_count = block;
        short_count[BLOCK_HEADER_LEN] = 2;
        assert_eq!(stripped_block(&short_count), None, "count disagrees");
    }

    #[test]
    fn has_witness_reads_only_marker_and_flag() {
        assert!(has_witness(&hex("01000000 0001")));
        assert!(!has_witness(&hex("01000000 0002")));
        assert!(!has_witness(&hex("01000000 01")));
        assert!(!has_witness(&[]));
        assert!(!has_witness(&hex(BIP143_P2WPKH_UNSIGNED)));
    }

    #[test]
    fn mutated_transactions_never_panic() {
        // Deterministic xorshift so a failure reproduces.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for original in segwit_vectors() {
            for _ in 0..2_000 {
                let mut bytes = original.clone();
                for _ in 0..=(next() % 4) {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] = next() as u8;
                }
                let cut = (next() as usize) % (bytes.len() + 1);
                if let Some(got) = tx_ids(&bytes[..cut]) {
                    assert_eq!(got.wtxid, sha256d(&bytes[..cut]));
                }
            }
        }
    }
}
