//! Sans-IO state machine for one connection: version/verack handshake, ping/pong and
//! timeouts. It consumes decoded messages and clock readings and returns actions; the
//! tokio layer only moves bytes and timers, so everything here is tested without sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::events::DisconnectReason;
use crate::wire::versions::{ADDRV2_VERSION, WTXID_RELAY_VERSION};
use crate::wire::{Command, Message, NetAddress, VersionMessage};

/// What the local side announces in its version message and which limits it enforces.
#[derive(Clone, Debug)]
pub struct SessionParams {
    pub inbound: bool,
    /// Our version's relay flag (BIP37): false asks the peer for no transactions, as a
    /// block-relay-only connection does.
    pub relay: bool,
    pub remote_addr: SocketAddr,
    pub local_addr: SocketAddr,
    pub protocol_version: i32,
    pub min_protocol_version: i32,
    pub services: u64,
    pub user_agent: String,
    pub start_height: i32,
    pub local_nonce: u64,
    pub handshake_timeout: Duration,
    pub ping_interval: Duration,
    pub inactivity_timeout: Duration,
    /// The node-defined commands we accept, offered in `sendcustom` when there are any.
    pub custom_commands: Vec<Command>,
}

/// The parts of the remote version message the engine keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteVersion {
    pub version: i32,
    /// The lower of its version and ours: what gates optional messages.
    pub common_version: i32,
    pub services: u64,
    pub user_agent: String,
    pub start_height: i32,
    pub relay: bool,
    /// It sent `sendaddrv2` before its verack (BIP155): addresses go to it as `addrv2`.
    pub wants_addrv2: bool,
    /// It sent `wtxidrelay` before its verack, and both sides speak BIP339's version:
    /// transactions are announced to it and requested from it by wtxid.
    pub wtxid_relay: bool,
    /// The node-defined commands it accepts (its `sendcustom` before verack).
    pub custom_commands: Vec<Command>,
}

/// Offences the session itself can detect; the engine maps them to scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionOffence {
    /// Anything but `version` arrived first.
    MessageBeforeVersion,
    /// A second `version` on an established or handshaking connection.
    DuplicateVersion,
}

/// What the session asks the I/O layer to do, in order.
#[derive(Debug, PartialEq)]
pub enum Action {
    Send(Message),
    /// The handshake finished; the peer is now visible to the node.
    Established(RemoteVersion),
    /// A message for the engine's relay/sync logic (only after the handshake).
    Deliver(Message),
    PingMeasured(Duration),
    Misbehaving(SessionOffence),
    Disconnect(DisconnectReason, String),
}

#[derive(Debug)]
enum Phase {
    AwaitingVersion,
    AwaitingVerack(RemoteVersion),
    Established,
    Closed,
}

/// One connection's handshake and keep-alive state.
#[derive(Debug)]
pub struct Session {
    params: SessionParams,
    phase: Phase,
    handshake_deadline: Instant,
    last_recv: Instant,
    last_send: Instant,
    next_ping: Instant,
    ping_in_flight: Option<(u64, Instant)>,
    ping_nonce_source: u64,
}

impl Session {
    /// Creates the session; an outbound connection speaks first with its version.
    pub fn new(params: SessionParams, now: Instant, unix_time: i64, out: &mut Vec<Action>) -> Self {
        let session = Session {
            handshake_deadline: now + params.handshake_timeout,
            last_recv: now,
            last_send: now,
            next_ping: now,
            ping_in_flight: None,
            ping_nonce_source: params.local_nonce ^ 0x9E37_79B9_7F4A_7C15,
            phase: Phase::AwaitingVersion,
            params,
        };
        if !session.params.inbound {
            out.push(Action::Send(session.version_message(unix_time)));
        }
        session
    }

    #[cfg(test)]
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Established)
    }

    fn version_message(&self, unix_time: i64) -> Message {
        let p = &self.params;
        Message::Version(VersionMessage {
            version: p.protocol_version,
            services: p.services,
            timestamp: unix_time,
            receiver: NetAddress::from_socket_addr(0, p.remote_addr),
            sender: NetAddress::from_socket_addr(p.services, p.local_addr),
            nonce: p.local_nonce,
            user_agent: p.user_agent.clone(),
            start_height: p.start_height,
            relay: p.relay,
        })
    }

    fn close(&mut self, reason: DisconnectReason, detail: String, out: &mut Vec<Action>) {
        self.phase = Phase::Closed;
        out.push(Action::Disconnect(reason, detail));
    }

    /// Records that bytes went out, for the inactivity check.
    pub fn on_sent(&mut self, now: Instant) {
        self.last_send = now;
    }

    /// Handles one decoded message. `is_local_nonce` says whether a version nonce is one
    /// of this engine's own (self-connection detection).
    pub fn on_message(
        &mut self,
        msg: Message,
        now: Instant,
        unix_time: i64,
        is_local_nonce: impl Fn(u64) -> bool,
        out: &mut Vec<Action>,
    ) {
        self.last_recv = now;
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Closed => {}
            Phase::AwaitingVersion => match msg {
                Message::Version(v) => self.on_version(v, unix_time, is_local_nonce, out),
                _ => {
                    self.phase = Phase::AwaitingVersion;
                    out.push(Action::Misbehaving(SessionOffence::MessageBeforeVersion));
                }
            },
            Phase::AwaitingVerack(remote) => match msg {
                Message::Verack => {
                    self.phase = Phase::Established;
                    self.next_ping = now;
                    out.push(Action::Established(remote));
                }
                Message::Version(_) => {
                    self.phase = Phase::AwaitingVerack(remote);
                    out.push(Action::Misbehaving(SessionOffence::DuplicateVersion));
                }
                Message::SendAddrV2 => {
                    self.phase = Phase::AwaitingVerack(RemoteVersion {
                        wants_addrv2: true,
                        ..remote
                    });
                }
                Message::SendCustom(commands) => {
                    self.phase = Phase::AwaitingVerack(RemoteVersion {
                        custom_commands: commands,
                        ..remote
                    });
                }
                Message::WtxidRelay => {
                    let wtxid_relay = remote.common_version >= WTXID_RELAY_VERSION;
                    self.phase = Phase::AwaitingVerack(RemoteVersion {
                        wtxid_relay,
                        ..remote
                    });
                }
                // Bitcoin Core ignores other messages until verack.
                _ => self.phase = Phase::AwaitingVerack(remote),
            },
            Phase::Established => {
                self.phase = Phase::Established;
                self.on_established_message(msg, now, out);
            }
        }
    }

    fn on_version(
        &mut self,
        v: VersionMessage,
        unix_time: i64,
        is_local_nonce: impl Fn(u64) -> bool,
        out: &mut Vec<Action>,
    ) {
        if self.params.inbound && is_local_nonce(v.nonce) {
            let detail = format!("connected to self (nonce {:#x})", v.nonce);
            return self.close(DisconnectReason::SelfConnection, detail, out);
        }
        if v.version < self.params.min_protocol_version {
            let detail = format!(
                "protocol version {} is below the minimum {}",
                v.version, self.params.min_protocol_version
            );
            return self.close(DisconnectReason::ObsoleteVersion, detail, out);
        }
        if self.params.inbound {
            out.push(Action::Send(self.version_message(unix_time)));
        }
        // BIP339 and BIP155 are offered between version and verack, in Bitcoin Core's
        // order, and only at 70016 or later, as some older implementations reject
        // unknown messages.
        let common = v.version.min(self.params.protocol_version);
        if common >= WTXID_RELAY_VERSION {
            out.push(Action::Send(Message::WtxidRelay));
        }
        if common >= ADDRV2_VERSION {
            out.push(Action::Send(Message::SendAddrV2));
        }
        if !self.params.custom_commands.is_empty() {
            let commands = self.params.custom_commands.clone();
            out.push(Action::Send(Message::SendCustom(commands)));
        }
        out.push(Action::Send(Message::Verack));
        self.phase = Phase::AwaitingVerack(RemoteVersion {
            version: v.version,
            common_version: common,
            services: v.services,
            user_agent: v.user_agent,
            start_height: v.start_height,
            relay: v.relay,
            wants_addrv2: false,
            wtxid_relay: false,
            custom_commands: Vec::new(),
        });
    }

    fn on_established_message(&mut self, msg: Message, now: Instant, out: &mut Vec<Action>) {
        match msg {
            Message::Ping(nonce) => out.push(Action::Send(Message::Pong(nonce))),
            Message::Pong(nonce) => match self.ping_in_flight {
                Some((sent_nonce, sent_at)) if sent_nonce == nonce => {
                    self.ping_in_flight = None;
                    self.next_ping = now + self.params.ping_interval;
                    out.push(Action::PingMeasured(now.saturating_duration_since(sent_at)));
                }
                // A zero nonce cancels the ping, as in Bitcoin Core; other mismatches
                // are ignored and the ping stays outstanding.
                Some(_) if nonce == 0 => {
                    self.ping_in_flight = None;
                    self.next_ping = now + self.params.ping_interval;
                }
                _ => {}
            },
            Message::Version(_) => out.push(Action::Misbehaving(SessionOffence::DuplicateVersion)),
            // A late verack is harmless.
            Message::Verack => {}
            other => out.push(Action::Deliver(other)),
        }
    }

    /// Fires whatever deadlines have passed.
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        let timeout = self.params.inactivity_timeout;
        match self.phase {
            Phase::Closed => {}
            Phase::AwaitingVersion | Phase::AwaitingVerack(_) => {
                if now >= self.handshake_deadline {
                    let detail = format!(
                        "no version/verack within {} ms",
                        self.params.handshake_timeout.as_millis()
                    );
                    self.close(DisconnectReason::HandshakeTimeout, detail, out);
                }
            }
            Phase::Established => {
                if let Some((_, sent_at)) = self.ping_in_flight {
                    if now >= sent_at + timeout {
                        let detail = format!("ping unanswered for {} s", timeout.as_secs());
                        return self.close(DisconnectReason::InactivityTimeout, detail, out);
                    }
                }
                if now >= self.last_recv + timeout || now >= self.last_send + timeout {
                    let detail = format!("no traffic for {} s", timeout.as_secs());
                    return self.close(DisconnectReason::InactivityTimeout, detail, out);
                }
                if self.ping_in_flight.is_none() && now >= self.next_ping {
                    let nonce = self.next_ping_nonce();
                    self.ping_in_flight = Some((nonce, now));
                    out.push(Action::Send(Message::Ping(nonce)));
                }
            }
        }
    }

    /// A non-zero nonce per ping (xorshift over the connection nonce; not a secret).
    fn next_ping_nonce(&mut self) -> u64 {
        let mut x = self.ping_nonce_source;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.ping_nonce_source = x;
        x.max(1)
    }

    /// The next instant at which `on_timer` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let timeout = self.params.inactivity_timeout;
        match self.phase {
            Phase::Closed => None,
            Phase::AwaitingVersion | Phase::AwaitingVerack(_) => Some(self.handshake_deadline),
            Phase::Established => {
                let idle = (self.last_recv + timeout).min(self.last_send + timeout);
                let ping = match self.ping_in_flight {
                    Some((_, sent_at)) => sent_at + timeout,
                    None => self.next_ping,
                };
                Some(idle.min(ping))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(inbound: bool) -> SessionParams {
        SessionParams {
            inbound,
            relay: true,
            remote_addr: "127.0.0.1:1000".parse().unwrap(),
            local_addr: "127.0.0.1:2000".parse().unwrap(),
            protocol_version: 70001,
            min_protocol_version: 60001,
            services: 1,
            user_agent: "/test/".into(),
            start_height: 7,
            local_nonce: 42,
            handshake_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(120),
            inactivity_timeout: Duration::from_secs(1200),
            custom_commands: Vec::new(),
        }
    }

    fn version(nonce: u64, version: i32) -> Message {
        Message::Version(VersionMessage {
            version,
            services: 9,
            timestamp: 0,
            receiver: NetAddress::from_socket_addr(0, "127.0.0.1:1".parse().unwrap()),
            sender: NetAddress::from_socket_addr(0, "127.0.0.1:2".parse().unwrap()),
            nonce,
            user_agent: "/remote/".into(),
            start_height: 99,
            relay: true,
        })
    }

    fn no_nonce(_: u64) -> bool {
        false
    }

    fn established(inbound: bool, now: Instant) -> Session {
        let mut out = Vec::new();
        let mut s = Session::new(params(inbound), now, 0, &mut out);
        s.on_message(version(7, 70001), now, 0, no_nonce, &mut out);
        s.on_message(Message::Verack, now, 0, no_nonce, &mut out);
        assert!(s.is_established());
        s
    }

    #[test]
    fn wtxidrelay_and_sendaddrv2_go_between_version_and_verack_when_both_speak_70016() {
        let now = Instant::now();
        let mut both = params(true);
        both.protocol_version = 70016;
        let mut out = Vec::new();
        let mut s = Session::new(both, now, 5, &mut out);
        s.on_message(version(7, 70016), now, 5, no_nonce, &mut out);
        assert!(matches!(
            &out[..],
            [
                Action::Send(Message::Version(_)),
                Action::Send(Message::WtxidRelay),
                Action::Send(Message::SendAddrV2),
                Action::Send(Message::Verack)
            ]
        ));
        // The peer's own before its verack are no offence, and are remembered.
        out.clear();
        s.on_message(Message::WtxidRelay, now, 5, no_nonce, &mut out);
        s.on_message(Message::SendAddrV2, now, 5, no_nonce, &mut out);
        assert!(out.is_empty());
        s.on_message(Message::Verack, now, 5, no_nonce, &mut out);
        assert!(matches!(&out[..], [Action::Established(r)] if r.wants_addrv2 && r.wtxid_relay));
        // After verack they come too late: delivered to the core, which ignores them.
        out.clear();
        s.on_message(Message::WtxidRelay, now, 5, no_nonce, &mut out);
        assert_eq!(out, vec![Action::Deliver(Message::WtxidRelay)]);
        // Below 70016 on either side neither is offered, and a peer's wtxidrelay does
        // not take effect.
        for (ours, theirs) in [(70016, 70015), (70015, 70016)] {
            let mut p = params(true);
            p.protocol_version = ours;
            let mut out = Vec::new();
            let mut s = Session::new(p, now, 5, &mut out);
            s.on_message(version(7, theirs), now, 5, no_nonce, &mut out);
            assert!(!out.contains(&Action::Send(Message::SendAddrV2)));
            assert!(!out.contains(&Action::Send(Message::WtxidRelay)));
            out.clear();
            s.on_message(Message::WtxidRelay, now, 5, no_nonce, &mut out);
            s.on_message(Message::Verack, now, 5, no_nonce, &mut out);
            assert!(matches!(&out[..], [Action::Established(r)] if !r.wtxid_relay));
        }
    }

    #[test]
    fn outbound_handshake_sends_version_first_then_verack() {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut s = Session::new(params(false), now, 5, &mut out);
        assert!(
            matches!(&out[..], [Action::Send(Message::Version(v))] if v.nonce == 42 && v.start_height == 7)
        );
        out.clear();
        s.on_message(version(7, 70002), now, 5, no_nonce, &mut out);
        assert_eq!(out, vec![Action::Send(Message::Verack)]);
        out.clear();
        s.on_message(Message::Verack, now, 5, no_nonce, &mut out);
        assert!(
            matches!(&out[..], [Action::Established(r)] if r.version == 70002 && r.start_height == 99 && r.services == 9 && r.user_agent == "/remote/")
        );
    }

    #[test]
    fn inbound_answers_version_with_version_and_verack() {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut s = Session::new(params(true), now, 0, &mut out);
        assert!(out.is_empty());
        s.on_message(version(7, 70001), now, 0, no_nonce, &mut out);
        assert!(matches!(
            &out[..],
            [
                Action::Send(Message::Version(_)),
                Action::Send(Message::Verack)
            ]
        ));
    }

    #[test]
    fn inbound_detects_self_connection_by_nonce() {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut s = Session::new(params(true), now, 0, &mut out);
        s.on_message(version(1234, 70001), now, 0, |n| n == 1234, &mut out);
        assert!(matches!(
            &out[..],
            [Action::Disconnect(DisconnectReason::SelfConnection, _)]
        ));
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn rejects_versions_below_the_minimum() {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut s = Session::new(params(true), now, 0, &mut out);
        s.on_message(version(1, 60000), now, 0, no_nonce, &mut out);
        assert!(matches!(
            &out[..],
            [Action::Disconnect(DisconnectReason::ObsoleteVersion, _)]
        ));
    }

    #[test]
    fn messages_before_version_and_duplicate_versions_are_offences() {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut s = Session::new(params(true), now, 0, &mut out);
        s.on_message(Message::GetAddr, now, 0, no_nonce, &mut out);
        assert_eq!(
            out,
            vec![Action::Misbehaving(SessionOffence::MessageBeforeVersion)]
        );
        let mut s = established(true, now);
        out.clear();
        s.on_message(version(7, 70001), now, 0, no_nonce, &mut out);
        assert_eq!(
            out,
            vec![Action::Misbehaving(SessionOffence::DuplicateVersion)]
        );
    }

    #[test]
    fn handshake_times_out() {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut s = Session::new(params(true), now, 0, &mut out);
        assert_eq!(s.next_deadline(), Some(now + Duration::from_secs(60)));
        s.on_timer(now + Duration::from_secs(59), &mut out);
        assert!(out.is_empty());
        s.on_timer(now + Duration::from_secs(60), &mut out);
        assert!(matches!(
            &out[..],
            [Action::Disconnect(DisconnectReason::HandshakeTimeout, _)]
        ));
    }

    #[test]
    fn pings_after_handshake_and_measures_the_pong() {
        let now = Instant::now();
        let mut s = established(false, now);
        let mut out = Vec::new();
        s.on_timer(now, &mut out);
        let nonce = match &out[..] {
            [Action::Send(Message::Ping(n))] => *n,
            other => panic!("expected a ping, got {other:?}"),
        };
        out.clear();
        s.on_message(Message::Pong(nonce ^ 1), now, 0, no_nonce, &mut out);
        assert!(out.is_empty(), "a wrong nonce does not count");
        let later = now + Duration::from_millis(250);
        s.on_message(Message::Pong(nonce), later, 0, no_nonce, &mut out);
        assert_eq!(out, vec![Action::PingMeasured(Duration::from_millis(250))]);
        assert_eq!(s.next_deadline(), Some(later + Duration::from_secs(120)));
    }

    #[test]
    fn answers_pings() {
        let now = Instant::now();
        let mut s = established(true, now);
        let mut out = Vec::new();
        s.on_message(Message::Ping(77), now, 0, no_nonce, &mut out);
        assert_eq!(out, vec![Action::Send(Message::Pong(77))]);
    }

    #[test]
    fn unanswered_ping_and_silence_time_out() {
        let now = Instant::now();
        let mut s = established(false, now);
        let mut out = Vec::new();
        s.on_timer(now, &mut out);
        out.clear();
        s.on_sent(now + Duration::from_secs(1199));
        s.on_timer(now + Duration::from_secs(1199), &mut out);
        assert!(out.is_empty());
        s.on_timer(now + Duration::from_secs(1200), &mut out);
        assert!(matches!(
            &out[..],
            [Action::Disconnect(DisconnectReason::InactivityTimeout, _)]
        ));
    }

    #[test]
    fn other_messages_are_delivered_only_after_the_handshake() {
        let now = Instant::now();
        let mut s = established(true, now);
        let mut out = Vec::new();
        s.on_message(Message::GetAddr, now, 0, no_nonce, &mut out);
        assert_eq!(out, vec![Action::Deliver(Message::GetAddr)]);
    }
}
