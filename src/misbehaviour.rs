//! Offences a peer can commit, what each one scores, and the per-peer score: the one
//! misbehaviour model of the engine.
//!
//! A peer's score is the plain sum of its offences' points, saturating, and it never
//! decays: five oversized lists are 100 whether they came within a second or a day
//! (Bitcoin Core's model; the README's table of points relies on it). A peer whose
//! score reaches [`BAN_THRESHOLD`] is disconnected and its address banned.

use std::fmt;

/// The score at which a peer is disconnected, as in Bitcoin Core.
pub const BAN_THRESHOLD: u32 = 100;

/// Something a peer did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offence {
    /// A list message (inv, getdata, notfound, addr, headers, locator) over its limit.
    OversizedList,
    /// Any message other than `version` before the handshake started.
    MessageBeforeVersion,
    /// A second `version` message.
    DuplicateVersion,
    /// A known message whose payload could not be decoded.
    MalformedPayload,
    /// A block or transaction we did not request from this peer, or whose id does not
    /// match what we requested.
    UnsolicitedItem,
    /// The node judged a block or transaction from this peer invalid.
    InvalidItem,
    /// The node reported an item from this peer invalid after validating it later.
    InvalidItemReportedLater,
    /// A GETDATA for items we do not have, after the peer's allowance for those ran out.
    UnknownItemRequests,
    /// A node-defined message over the size the node set for it.
    OversizedCustomMessage,
    /// A node-defined message beyond the rate the node set for it (each one).
    CustomMessageFlood,
}

impl Offence {
    /// Points added to the peer's score; Bitcoin Core's values where it has one.
    pub fn score(self) -> u32 {
        match self {
            Offence::OversizedList => 20,
            Offence::MessageBeforeVersion => 1,
            Offence::DuplicateVersion => 1,
            Offence::MalformedPayload => 10,
            Offence::UnsolicitedItem => 20,
            Offence::InvalidItem => 100,
            Offence::InvalidItemReportedLater => 100,
            Offence::UnknownItemRequests => 20,
            Offence::OversizedCustomMessage => 20,
            Offence::CustomMessageFlood => 1,
        }
    }
}

impl fmt::Display for Offence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Offence::OversizedList => "oversized list message",
            Offence::MessageBeforeVersion => "message before version",
            Offence::DuplicateVersion => "duplicate version",
            Offence::MalformedPayload => "malformed payload",
            Offence::UnsolicitedItem => "unsolicited or mismatched item",
            Offence::InvalidItem => "invalid item",
            Offence::InvalidItemReportedLater => "invalid item (reported later)",
            Offence::UnknownItemRequests => "requests for unknown items past the allowance",
            Offence::OversizedCustomMessage => "node-defined message over its size limit",
            Offence::CustomMessageFlood => "node-defined message over its rate limit",
        })
    }
}

/// A peer's accumulated score: the sum of its offences' points, saturating at
/// `u32::MAX`.
#[derive(Debug, Default)]
pub struct Score {
    total: u32,
}

impl Score {
    /// Adds points: an offence's [`Offence::score`], or points the node assigned itself
    /// (for example for a bad block found later). Returns true when the threshold is
    /// reached.
    pub fn add_points(&mut self, points: u32) -> bool {
        self.total = self.total.saturating_add(points);
        self.total >= BAN_THRESHOLD
    }

    /// The points accumulated so far.
    pub fn total(&self) -> u32 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_threshold_after_five_oversized_lists() {
        let mut s = Score::default();
        for _ in 0..4 {
            assert!(!s.add_points(Offence::OversizedList.score()));
        }
        assert!(s.add_points(Offence::OversizedList.score()));
        assert_eq!(s.total(), 100);
    }
}
