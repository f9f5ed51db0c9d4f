//! Engine-wide traffic counters: bytes on the sockets, and messages with their bytes by
//! command (Bitcoin Core's `getnettotals` and `bytessent_per_msg`). Totals survive the
//! connections they were counted on, which summing the peer list cannot give.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::events::{CommandTraffic, NetTotals};
use crate::wire::frame::Command;

/// The commands counted on their own, sorted; every other command is counted under
/// [`OTHER`].
const KNOWN: [&str; 22] = [
    "addr",
    "addrv2",
    "block",
    "feefilter",
    "getaddr",
    "getblocks",
    "getdata",
    "getheaders",
    "headers",
    "inv",
    "notfound",
    "ping",
    "pong",
    "reject",
    "sendaddrv2",
    "sendcmpct",
    "sendcustom",
    "sendheaders",
    "tx",
    "verack",
    "version",
    "wtxidrelay",
];
/// The bucket of commands not in [`KNOWN`] (Core's name for it).
pub const OTHER: &str = "*other*";

#[derive(Default)]
struct Counter {
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Counter {
    fn add(&self, bytes: usize) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn read(&self) -> (u64, u64) {
        (
            self.messages.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// Counters shared by every connection of one engine.
#[derive(Default)]
pub(crate) struct Traffic {
    socket_sent: AtomicU64,
    socket_received: AtomicU64,
    /// One per known command, then [`OTHER`].
    sent: [Counter; KNOWN.len() + 1],
    received: [Counter; KNOWN.len() + 1],
}

fn slot(command: &str) -> usize {
    KNOWN.binary_search(&command).unwrap_or(KNOWN.len())
}

impl Traffic {
    pub fn socket_sent(&self, bytes: usize) {
        self.socket_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn socket_received(&self, bytes: usize) {
        self.socket_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A message arrived; `size` counts its header and payload.
    pub fn message_received(&self, command: Command, size: usize) {
        if let Some(counter) = self.received.get(slot(command.as_str())) {
            counter.add(size);
        }
    }

    /// A message is being written; `len` counts its v1 header and payload.
    pub fn message_sent(&self, command: Option<Command>, len: usize) {
        let index = command.map_or(KNOWN.len(), |c| slot(c.as_str()));
        if let Some(counter) = self.sent.get(index) {
            counter.add(len);
        }
    }

    pub fn totals(&self) -> NetTotals {
        let sum = |counters: &[Counter]| counters.iter().map(|c| c.read().0).sum();
        NetTotals {
            bytes_sent: self.socket_sent.load(Ordering::Relaxed),
            bytes_received: self.socket_received.load(Ordering::Relaxed),
            messages_sent: sum(&self.sent),
            messages_received: sum(&self.received),
        }
    }

    /// Every command with traffic either way, in name order ([`OTHER`] last).
    pub fn by_command(&self) -> Vec<CommandTraffic> {
        KNOWN
            .iter()
            .chain(std::iter::once(&OTHER))
            .zip(self.sent.iter().zip(&self.received))
            .filter_map(|(name, (sent, received))| {
                let (messages_sent, bytes_sent) = sent.read();
                let (messages_received, bytes_received) = received.read();
                (messages_sent + messages_received > 0).then(|| CommandTraffic {
                    command: (*name).to_owned(),
                    messages_sent,
                    bytes_sent,
                    messages_received,
                    bytes_received,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Message;

    #[test]
    fn known_commands_are_sorted_and_counted_apart_from_the_rest() {
        assert!(KNOWN.windows(2).all(|w| w[0] < w[1]));
        let traffic = Traffic::default();
        let ping = Message::Ping(1).frame(0xDAB5_BFFA);
        traffic.message_sent(ping.command(), ping.len());
        traffic.message_sent(ping.command(), ping.len());
        let odd = Command::new("mychain").unwrap();
        traffic.message_received(odd, 30);
        traffic.message_received(Command::new("tx").unwrap(), 250);
        traffic.socket_sent(64);
        let totals = traffic.totals();
        assert_eq!((totals.messages_sent, totals.messages_received), (2, 2));
        assert_eq!(totals.bytes_sent, 64);
        let rows = traffic.by_command();
        let names: Vec<&str> = rows.iter().map(|r| r.command.as_str()).collect();
        assert_eq!(names, ["ping", "tx", OTHER]);
        assert_eq!((rows[0].messages_sent, rows[0].bytes_sent), (2, 64));
        assert_eq!((rows[2].messages_received, rows[2].bytes_received), (1, 30));
    }
}
