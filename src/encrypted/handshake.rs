//! The BIP324 handshake as a sans-IO state machine over the `bip324` crate's
//! type-state [`Handshake`].
//!
//! ```text
//! -> our key (64) | our garbage (0..=4095)
//! <- their key (64)
//! -> our garbage terminator (16) | our version packet (AAD: our garbage)
//! <- their garbage | their terminator | decoys* | their version packet
//! ```
//!
//! The crate's handshake states after the remote garbage borrow it (it is the
//! associated data of the first packet), so the crate expects the garbage and
//! every packet up to the version packet to be read in one go, as its blocking and
//! async `Protocol`s do. Bytes arrive here in arbitrary pieces instead, so the
//! steps are written as one `async` function, which holds that borrow across the
//! points where it waits for input, and [`V2Handshake`] polls it by hand (no
//! runtime, no waker needed) each time bytes are fed in. The future and this type
//! exchange bytes through a small shared `Pipe`.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bip324::{
    CipherSession, GarbageResult, Handshake, Initialized, ReceivedKey, VersionResult,
    NUM_LENGTH_BYTES,
};
use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use rand::{Rng, RngCore};

use super::packets::{HEADER_LEN_V2, TAG_LEN};
use super::{magic_bytes, Role, V2Error, V2Session};

/// Most garbage bytes either side may send after its key (BIP324).
pub const MAX_GARBAGE_LEN: usize = 4095;
/// Largest contents accepted in a handshake packet (decoys and the version
/// packet): Bitcoin Core's `MAX_CONTENTS_LEN`, 1 + 12 + `MAX_PROTOCOL_MESSAGE_LENGTH`.
pub const MAX_HANDSHAKE_CONTENTS: usize = 1 + 12 + 4_000_000;
/// Length of an ElligatorSwift-encoded public key.
const KEY_LEN: usize = 64;
/// Length of a garbage terminator.
const GARBAGE_TERMINATOR_LEN: usize = 16;

/// What to do after feeding bytes to [`V2Handshake::receive`].
// `Done` is returned once per connection; boxing the session would cost more
// than moving it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Progress {
    /// Nothing to send; read more bytes and call `receive` again.
    NeedMore,
    /// Send these bytes (our garbage terminator and version packet, once the
    /// peer's key arrived), then read more and call `receive` again.
    Send(Vec<u8>),
    /// The handshake is complete. Send `send` first if it is not empty (it is when
    /// the peer's key and version arrived in one piece), then use `session`. Bytes
    /// received after the peer's version packet were left in the input buffer for
    /// [`super::PacketDecoder::decode`].
    Done { send: Vec<u8>, session: V2Session },
}

/// Drives the handshake for one connection. See the module documentation for how
/// a responder first decides between v1 and v2 with [`super::classify_inbound`].
pub struct V2Handshake {
    role: Role,
    pipe: SharedPipe,
    waker: Waker,
    state: State,
}

/// Bytes between [`V2Handshake`] and its handshake future: `input` not yet taken
/// by the future, `output` produced by it and not yet handed to the caller.
#[derive(Default)]
struct Pipe {
    input: BytesMut,
    output: Vec<u8>,
}

type SharedPipe = Arc<Mutex<Pipe>>;

/// The finished handshake: the session ciphers and the bytes already received
/// after the peer's version packet.
type Outcome = Result<(CipherSession, BytesMut), V2Error>;

type HandshakeTask = Pin<Box<dyn Future<Output = Outcome> + Send>>;

enum State {
    Running(HandshakeTask),
    /// Failed before the peer sent anything (key generation); reported by the
    /// first `receive`.
    Failed(V2Error),
    /// Finished or failed; the session or error was returned.
    Over,
}

impl V2Handshake {
    /// Starts a handshake on the network identified by `magic` with a fresh
    /// random key and a random amount (0 to 4,095 bytes, as Bitcoin Core sends) of
    /// random garbage. Returns the driver and the bytes to send first.
    ///
    /// A responder should call this only after [`super::classify_inbound`] said
    /// v2, feeding the bytes it already read to [`V2Handshake::receive`].
    pub fn new(magic: u32, role: Role) -> (V2Handshake, Vec<u8>) {
        let mut rng = rand::rng();
        let mut garbage = vec![0u8; rng.random_range(0..=MAX_GARBAGE_LEN)];
        rng.fill_bytes(&mut garbage);
        Self::start(
            role,
            Handshake::new(magic_bytes(magic), role.to_bip324()),
            garbage,
        )
    }

    /// Like [`V2Handshake::new`] with the given garbage (at most 4,095 bytes).
    pub fn with_garbage(
        magic: u32,
        role: Role,
        garbage: Vec<u8>,
    ) -> Result<(V2Handshake, Vec<u8>), V2Error> {
        if garbage.len() > MAX_GARBAGE_LEN {
            return Err(V2Error::TooMuchGarbage);
        }
        Ok(Self::start(
            role,
            Handshake::new(magic_bytes(magic), role.to_bip324()),
            garbage,
        ))
    }

    /// A handshake with a fixed secret key, for reproducible test transcripts.
    #[cfg(test)]
    pub(super) fn with_secret_key(
        magic: u32,
        role: Role,
        secret_key: [u8; 32],
        garbage: Vec<u8>,
    ) -> (V2Handshake, Vec<u8>) {
        struct FixedKey([u8; 32]);
        impl bip324::FillBytes for FixedKey {
            fn fill_bytes(&mut self, dest: &mut [u8; 32]) {
                *dest = self.0;
            }
        }
        let handshake = Handshake::new_with_rng(
            magic_bytes(magic),
            role.to_bip324(),
            &mut FixedKey(secret_key),
            &secp256k1::Secp256k1::signing_only(),
        );
        Self::start(role, handshake, garbage)
    }

    fn start(
        role: Role,
        handshake: Result<Handshake<Initialized>, bip324::Error>,
        garbage: Vec<u8>,
    ) -> (V2Handshake, Vec<u8>) {
        let pipe = SharedPipe::default();
        let state = match handshake {
            Ok(handshake) => State::Running(Box::pin(run(pipe.clone(), handshake, garbage))),
            Err(e) => State::Failed(e.into()),
        };
        let mut this = V2Handshake {
            role,
            pipe,
            waker: Waker::from(Arc::new(NoopWake)),
            state,
        };
        // Runs until the future first waits for the peer, having written our key
        // and garbage.
        if let Poll::Ready(outcome) = this.poll_task() {
            this.state = State::Failed(match outcome {
                Err(e) => e,
                Ok(_) => V2Error::HandshakeOver,
            });
        }
        let first = std::mem::take(&mut this.pipe.lock().output);
        (this, first)
    }

    /// Our role in this handshake.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Feeds received bytes. Everything in `input` is taken (kept internally until
    /// used) unless the handshake completes, in which case the bytes after the
    /// peer's version packet are left in `input`. Any number of bytes may be given
    /// at a time, including the peer's key byte by byte.
    ///
    /// Errors are final: the connection must be closed. Calling again after
    /// `Done` or an error returns [`V2Error::HandshakeOver`].
    pub fn receive(&mut self, input: &mut BytesMut) -> Result<Progress, V2Error> {
        match std::mem::replace(&mut self.state, State::Over) {
            State::Running(task) => self.state = State::Running(task),
            State::Failed(e) => return Err(e),
            State::Over => return Err(V2Error::HandshakeOver),
        }
        self.pipe.lock().input.unsplit(input.split());
        let poll = self.poll_task();
        let mut pipe = self.pipe.lock();
        let send = std::mem::take(&mut pipe.output);
        match poll {
            Poll::Pending => Ok(if send.is_empty() {
                Progress::NeedMore
            } else {
                Progress::Send(send)
            }),
            Poll::Ready(outcome) => {
                self.state = State::Over;
                let (cipher, mut leftover) = outcome?;
                leftover.unsplit(pipe.input.split());
                // `input` was emptied above and nothing was added since.
                input.unsplit(leftover);
                Ok(Progress::Done {
                    send,
                    session: V2Session::new(cipher),
                })
            }
        }
    }

    fn poll_task(&mut self) -> Poll<Outcome> {
        match &mut self.state {
            State::Running(task) => task.as_mut().poll(&mut Context::from_waker(&self.waker)),
            State::Failed(_) | State::Over => Poll::Ready(Err(V2Error::HandshakeOver)),
        }
    }
}

impl fmt::Debug for V2Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Running(_) => "running",
            State::Failed(_) => "failed",
            State::Over => "over",
        };
        f.debug_struct("V2Handshake")
            .field("role", &self.role)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// The handshake future is only ever polled by [`V2Handshake::receive`] when new
/// bytes arrive, so wake-ups are not needed.
struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// The handshake, from sending our key to receiving the peer's version packet.
async fn run(pipe: SharedPipe, handshake: Handshake<Initialized>, garbage: Vec<u8>) -> Outcome {
    // Our key and garbage.
    let mut first = vec![0u8; Handshake::<Initialized>::send_key_len(Some(&garbage))];
    let handshake = handshake.send_key(Some(&garbage), &mut first)?;
    pipe.lock().output.extend_from_slice(&first);

    // Their key (possibly in pieces).
    let mut buf = BytesMut::new();
    fill_to(&pipe, &mut buf, KEY_LEN).await;
    let their_key = buf
        .split_first_chunk::<KEY_LEN>()
        .map(|(key, _)| *key)
        .ok_or(V2Error::Internal(bip324::Error::CiphertextTooSmall))?;
    buf.advance(KEY_LEN);
    let handshake = handshake.receive_key(their_key)?;

    // Our garbage terminator and version packet.
    let mut reply = vec![0u8; Handshake::<ReceivedKey<'_>>::send_version_len(None)];
    let mut handshake = handshake.send_version(&mut reply, None)?;
    pipe.lock().output.extend_from_slice(&reply);

    // Their garbage, up to its terminator. `search` never holds more than the
    // longest garbage plus terminator; the crate fails beyond that.
    let mut search = buf;
    let (mut handshake, consumed) = loop {
        match handshake.receive_garbage(&search)? {
            GarbageResult::FoundGarbage {
                handshake,
                consumed_bytes,
            } => break (handshake, consumed_bytes),
            GarbageResult::NeedMoreData(waiting) => {
                handshake = waiting;
                grow(&pipe, &mut search, MAX_GARBAGE_LEN + GARBAGE_TERMINATOR_LEN).await;
            }
        }
    };

    // Their decoys, if any, and version packet. The first packet is
    // authenticated together with their garbage, which `handshake` borrows from
    // `search`; the bytes after the terminator move to `stream`.
    let mut stream = BytesMut::from(search.get(consumed..).unwrap_or_default());
    loop {
        fill_to(&pipe, &mut stream, NUM_LENGTH_BYTES).await;
        let length = stream
            .split_first_chunk::<NUM_LENGTH_BYTES>()
            .map(|(length, _)| *length)
            .ok_or(V2Error::Internal(bip324::Error::CiphertextTooSmall))?;
        stream.advance(NUM_LENGTH_BYTES);
        let rest_len = handshake.decrypt_packet_len(length)?;
        let contents_len = rest_len.saturating_sub(HEADER_LEN_V2 + TAG_LEN);
        if contents_len > MAX_HANDSHAKE_CONTENTS {
            return Err(V2Error::PacketTooLarge {
                length: contents_len,
                max: MAX_HANDSHAKE_CONTENTS,
            });
        }
        fill_to(&pipe, &mut stream, rest_len).await;
        let mut packet = stream.split_to(rest_len.min(stream.len()));
        handshake = match handshake.receive_version(&mut packet)? {
            VersionResult::Complete { cipher } => return Ok((cipher, stream)),
            VersionResult::Decoy(next) => next,
        };
    }
}

/// Waits until `buf` holds at least `target` bytes, taking no more than that
/// from the pipe.
async fn fill_to(pipe: &SharedPipe, buf: &mut BytesMut, target: usize) {
    poll_fn(|_| {
        let mut pipe = pipe.lock();
        let take = target.saturating_sub(buf.len()).min(pipe.input.len());
        if take > 0 {
            buf.unsplit(pipe.input.split_to(take));
        }
        if buf.len() >= target {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Waits until at least one more byte was moved into `buf`, which is not grown
/// past `cap`.
async fn grow(pipe: &SharedPipe, buf: &mut BytesMut, cap: usize) {
    poll_fn(|_| {
        let mut pipe = pipe.lock();
        let take = cap.saturating_sub(buf.len()).min(pipe.input.len());
        if take == 0 {
            return Poll::Pending;
        }
        buf.unsplit(pipe.input.split_to(take));
        Poll::Ready(())
    })
    .await
}
