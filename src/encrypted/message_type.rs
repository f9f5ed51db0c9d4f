//! The BIP324 application layer's message-type field: a 1-byte id for the
//! message types BIP324 lists, otherwise a 0 byte and the 12-byte v1 command.

use crate::wire::frame::COMMAND_LEN;
use crate::wire::Command;

/// Length of the long form: the 0 marker and the NUL-padded command.
pub(super) const LONG_TYPE_LEN: usize = 1 + COMMAND_LEN;

/// BIP324's table of 1-byte message ids (bip-0324.mediawiki, "v2 Bitcoin P2P
/// message structure"), indexed by id; id 0 marks the 12-byte long form. Ids from
/// 29 up are not defined by BIP324 (bip-0324/message_type_ids.md lists draft
/// proposals for some; Bitcoin Core does not implement them either).
const SHORT_IDS: [&str; 29] = [
    "",             // 0: 12 bytes follow
    "addr",         // 1
    "block",        // 2
    "blocktxn",     // 3
    "cmpctblock",   // 4
    "feefilter",    // 5
    "filteradd",    // 6
    "filterclear",  // 7
    "filterload",   // 8
    "getblocks",    // 9
    "getblocktxn",  // 10
    "getdata",      // 11
    "getheaders",   // 12
    "headers",      // 13
    "inv",          // 14
    "mempool",      // 15
    "merkleblock",  // 16
    "notfound",     // 17
    "ping",         // 18
    "pong",         // 19
    "sendcmpct",    // 20
    "tx",           // 21
    "getcfilters",  // 22
    "cfilter",      // 23
    "getcfheaders", // 24
    "cfheaders",    // 25
    "getcfcheckpt", // 26
    "cfcheckpt",    // 27
    "addrv2",       // 28
];

/// The 1-byte id of `command`, if BIP324 assigns one.
pub(super) fn short_id(command: Command) -> Option<u8> {
    let name = command.as_str();
    if name.is_empty() {
        return None;
    }
    SHORT_IDS
        .iter()
        .position(|&entry| entry == name)
        .and_then(|id| u8::try_from(id).ok())
}

/// The command a 1-byte id stands for; `None` for 0 (the long form) and for ids
/// BIP324 does not define.
pub(super) fn command_for_short_id(id: u8) -> Option<Command> {
    SHORT_IDS
        .get(usize::from(id))
        .filter(|name| !name.is_empty())
        .and_then(|name| Command::new(name))
}

/// Appends the message-type field for `command`: its 1-byte id, or 0 followed by
/// the 12 NUL-padded command bytes.
pub(super) fn encode_type(command: Command, out: &mut Vec<u8>) {
    match short_id(command) {
        Some(id) => out.push(id),
        None => {
            out.push(0);
            out.extend_from_slice(command.bytes());
        }
    }
}

/// A decoded message-type field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DecodedType {
    /// A known message type; the payload starts `type_len` bytes into the contents.
    Known { command: Command, type_len: usize },
    /// A 1-byte id BIP324 does not define: Bitcoin Core drops such messages without
    /// disconnecting (net.cpp, `V2Transport::GetMessageType` returns no type and
    /// `CNode::ReceiveMsgBytes` drops the message), and so do we.
    UnknownShortId(u8),
}

/// Parses the message-type field at the start of a genuine packet's contents.
/// Errors: empty contents, or a long form that is truncated or not a valid v1
/// command name (printable ASCII then NUL padding, as [`Command::from_bytes`]).
pub(super) fn decode_type(contents: &[u8]) -> Result<DecodedType, super::V2Error> {
    let Some((&first, rest)) = contents.split_first() else {
        return Err(super::V2Error::EmptyContents);
    };
    if first != 0 {
        return Ok(match command_for_short_id(first) {
            Some(command) => DecodedType::Known {
                command,
                type_len: 1,
            },
            None => DecodedType::UnknownShortId(first),
        });
    }
    let Some((name, _)) = rest.split_first_chunk::<COMMAND_LEN>() else {
        return Err(super::V2Error::MalformedMessageType);
    };
    let command = Command::from_bytes(*name).ok_or(super::V2Error::MalformedMessageType)?;
    Ok(DecodedType::Known {
        command,
        type_len: LONG_TYPE_LEN,
    })
}

#[cfg(test)]
pub(super) fn short_id_table() -> &'static [&'static str] {
    &SHORT_IDS
}
