//! Misbehaviour and bans: offences add to a peer's score; at the threshold the peer is
//! closed and its address banned for the ban time. Bans drop matching connections, are
//! checked at accept and before dialling, and are persisted whenever they change.

use std::net::IpAddr;

use super::{Node, Now};
use crate::banman::BanEntry;
use crate::events::{DisconnectReason, PeerId};
use crate::misbehaviour::Offence;
use crate::subnet::Subnet;

/// Why a ban was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BanRefused {
    /// The end is not in the future.
    InThePast,
    /// The list is full of bans that last longer.
    ListFull,
}

impl Node {
    /// A peer committed an offence.
    pub(super) fn misbehaving(&mut self, peer: PeerId, offence: Offence, detail: &str, now: Now) {
        self.add_score(peer, offence.score(), &offence.to_string(), detail, now);
    }

    /// A payload that could not be decoded; `offence` says how bad (oversized lists cost
    /// more than garbage).
    pub fn bad_payload(&mut self, peer: PeerId, offence: Offence, detail: &str, now: Now) {
        self.misbehaving(peer, offence, detail, now);
    }

    /// Points the node assigns itself (for example for a bad block found later); false
    /// when there is no such peer.
    pub fn node_reports_misbehaviour(
        &mut self,
        peer: PeerId,
        points: u32,
        reason: &str,
        now: Now,
    ) -> bool {
        if !self.peers.contains_key(&peer) {
            return false;
        }
        self.add_score(peer, points, "reported by node", reason, now);
        true
    }

    fn add_score(&mut self, peer: PeerId, points: u32, what: &str, detail: &str, now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let reached = p.score.add_points(points);
        let total = p.score.total();
        let addr = p.addr;
        tracing::debug!(
            peer,
            offence = what,
            points,
            score = total,
            detail,
            "misbehaving"
        );
        if reached {
            tracing::info!(peer, %addr, score = total, "banning misbehaving peer");
            self.close(
                peer,
                DisconnectReason::Misbehaviour,
                format!("misbehaviour score {total} ({what})"),
            );
            let until = now.unix + self.config.ban_time.as_secs();
            let _ = self.ban(
                Subnet::single(addr.ip()),
                until,
                &format!("misbehaviour: {what}"),
                now,
            );
        }
    }

    pub fn is_banned(&self, ip: IpAddr, now: Now) -> bool {
        self.bans.is_banned(&ip, now.unix)
    }

    /// Bans a subnet until a Unix time and closes the connections inside it.
    pub fn ban(
        &mut self,
        subnet: Subnet,
        until: u64,
        reason: &str,
        now: Now,
    ) -> Result<(), BanRefused> {
        if until <= now.unix {
            return Err(BanRefused::InThePast);
        }
        let outcome = self.bans.ban(subnet, until, reason, now.unix);
        if !outcome.is_in_force() {
            return Err(BanRefused::ListFull);
        }
        let inside: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| subnet.contains(&p.addr.ip()))
            .map(|p| p.id)
            .collect();
        for peer in inside {
            self.close(
                peer,
                DisconnectReason::Banned,
                format!("{subnet} is banned"),
            );
        }
        self.bans_changed(now);
        Ok(())
    }

    /// Lifts a ban; false when there was none for exactly this subnet.
    pub fn unban(&mut self, subnet: &Subnet, now: Now) -> bool {
        let lifted = self.bans.unban(subnet);
        self.bans_changed(now);
        lifted
    }

    /// Bans in force, ordered by subnet.
    pub fn bans(&self, now: Now) -> Vec<(Subnet, BanEntry)> {
        self.bans.list(now.unix)
    }

    pub fn clear_bans(&mut self, now: Now) {
        self.bans.clear();
        self.bans_changed(now);
    }
}
