//! Node-defined messages: commands the node adds to the protocol for its own chain.
//! Each side lists the commands it accepts in `sendcustom` before its verack; a command
//! goes only to peers that listed it, so a peer never receives one it does not know.
//! Received ones are checked against their size limit and a per-peer rate (a token
//! bucket per command, one second's worth deep) before they reach the node.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;

use super::{Node, NodeEvent, Now};
use crate::config::CustomMessage;
use crate::error::{Error, Result};
use crate::events::PeerId;
use crate::misbehaviour::Offence;
use crate::wire::{Command, Message};

/// The node's commands and their limits.
pub(super) struct CustomCommands {
    limits: HashMap<Command, CustomMessage>,
}

/// A peer's rate budget for one command.
pub(super) struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl CustomCommands {
    pub fn new(messages: &[CustomMessage]) -> Self {
        let limits = messages
            .iter()
            .filter_map(|m| Some((Command::new(&m.command)?, m.clone())))
            .collect();
        CustomCommands { limits }
    }

    /// The commands offered in `sendcustom`, in a stable order.
    pub fn commands(&self) -> Vec<Command> {
        let mut commands: Vec<Command> = self.limits.keys().copied().collect();
        commands.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        commands
    }
}

impl Node {
    /// A command the core does not handle arrived. The node's own ones are checked and
    /// handed to it; anything else is ignored, as Bitcoin Core ignores unknown commands.
    pub(super) fn on_unknown_command(
        &mut self,
        peer: PeerId,
        command: Command,
        payload: Bytes,
        now: Now,
    ) {
        let Some(limit) = self.custom.limits.get(&command) else {
            tracing::trace!(peer, %command, "unknown command ignored");
            return;
        };
        let (max_size, rate) = (limit.max_size as usize, f64::from(limit.max_per_second));
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if !p.offered(&command) {
            tracing::debug!(peer, %command, "node-defined command from a peer that did not offer it; ignored");
            return;
        }
        if payload.len() > max_size {
            let detail = format!("{command} of {} bytes, limit {max_size}", payload.len());
            return self.misbehaving(peer, Offence::OversizedCustomMessage, &detail, now);
        }
        let buckets = p.custom_buckets.get_or_insert_with(Box::default);
        let bucket = buckets.entry(command).or_insert(Bucket {
            tokens: rate,
            refilled: now.mono,
        });
        let elapsed = now.mono.saturating_duration_since(bucket.refilled);
        bucket.refilled = now.mono;
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * rate).min(rate);
        if bucket.tokens < 1.0 {
            let detail = format!("{command} beyond {rate} per second");
            return self.misbehaving(peer, Offence::CustomMessageFlood, &detail, now);
        }
        bucket.tokens -= 1.0;
        self.notify(NodeEvent::CustomMessage {
            peer,
            command,
            payload,
        });
    }

    /// Sends a node-defined message to one peer, which must have offered the command.
    pub fn send_custom(
        &mut self,
        peer: PeerId,
        command: Command,
        payload: Bytes,
        now: Now,
    ) -> Result<()> {
        self.check_custom(command, &payload)?;
        let offered = self
            .peers
            .get(&peer)
            .filter(|p| !p.closing && p.is_established())
            .map(|p| p.offered(&command))
            .ok_or_else(|| Error::NotFound(format!("no connected peer with id {peer}")))?;
        if !offered {
            return Err(Error::InvalidArgument(format!(
                "peer {peer} did not offer {command}"
            )));
        }
        self.send(peer, Message::Unknown { command, payload }, now);
        Ok(())
    }

    /// Sends a node-defined message to every peer that offered the command; returns how
    /// many.
    pub fn broadcast_custom(
        &mut self,
        command: Command,
        payload: Bytes,
        now: Now,
    ) -> Result<usize> {
        self.check_custom(command, &payload)?;
        let targets: Vec<PeerId> = self
            .established_ids()
            .into_iter()
            .filter(|id| self.peers.get(id).is_some_and(|p| p.offered(&command)))
            .collect();
        for &peer in &targets {
            let message = Message::Unknown {
                command,
                payload: payload.clone(),
            };
            self.send(peer, message, now);
        }
        Ok(targets.len())
    }

    fn check_custom(&self, command: Command, payload: &[u8]) -> Result<()> {
        let limit = self.custom.limits.get(&command).ok_or_else(|| {
            Error::InvalidArgument(format!("{command} is not a command the node defined"))
        })?;
        if payload.len() > limit.max_size as usize {
            return Err(Error::InvalidArgument(format!(
                "{command} of {} bytes exceeds its limit {}",
                payload.len(),
                limit.max_size
            )));
        }
        Ok(())
    }
}
