//! Sockets: the listener, the dialer, and the task that runs each connection and tells
//! the core how it ended.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::connection;
use super::link::{Exit, Link};
use super::transport::{self, Negotiation, Transport, TransportPlan};
use super::Driver;
use crate::events::{DisconnectReason, PeerId};
use crate::node::{DialTarget, Origin};

/// Pending connections the kernel queues for accept, as Bitcoin Core's SOMAXCONN: a
/// burst of connections must not push an honest peer's SYN into a retry.
const LISTEN_BACKLOG: u32 = 4096;
/// How long `accept` backs off after an error such as running out of descriptors.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Binds the listening socket (address reuse on, as for any server restarted in place).
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts inbound connections; the core admits or refuses each.
pub(crate) async fn accept_loop(driver: Arc<Driver>, listener: TcpListener) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let local_addr = local_addr_of(&stream);
        let (link, outbox) = Link::new(driver.config.max_send_buffer, driver.traffic.clone());
        let (admitted, events) = driver.open_link(&link, |node, now| {
            match node.accept_inbound(addr, local_addr, now) {
                Ok(id) => Some((id, ())),
                Err(refusal) => {
                    tracing::debug!(%addr, ?refusal, "inbound connection refused");
                    None
                }
            }
        });
        for event in events {
            driver.emit_later(event);
        }
        if let Some((id, ())) = admitted {
            start_connection(
                &driver,
                Admitted {
                    id,
                    stream,
                    link,
                    outbox,
                    plan: TransportPlan::Detect,
                    redial: None,
                },
            );
        }
    }
}

fn local_addr_of(stream: &TcpStream) -> SocketAddr {
    stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// Runs an open connection on a task of its own and tells the core how it ended. A
/// panic inside it (a bug, or a node-installed hash function that panics) ends that
/// connection only; it is caught in the task, so no second task per connection waits
/// for it.
fn start_connection(driver: &Arc<Driver>, admitted: Admitted) {
    let id = admitted.id;
    let driver = driver.clone();
    driver.clone().spawn(async move {
        // Scoped, so that the connection's state is freed before the core is told.
        let ended = {
            let connection = std::pin::pin!(serve(&driver, admitted));
            catch_panic(connection).await
        };
        let exit: Exit = match ended {
            Ok(exit) => exit,
            Err(_) => {
                tracing::error!(peer = id, "connection task panicked");
                (
                    DisconnectReason::InternalError,
                    "the connection task panicked".into(),
                )
            }
        };
        driver.close_link(id);
        let (reason, detail) = exit;
        driver
            .run(|node, now| node.connection_closed(id, reason, detail, now))
            .await;
    });
}

/// An open socket the core admitted, with what its connection task needs.
struct Admitted {
    id: PeerId,
    stream: TcpStream,
    link: Arc<Link>,
    outbox: tokio::sync::mpsc::UnboundedReceiver<crate::wire::Frame>,
    plan: TransportPlan,
    /// The address an outbound v2 attempt falls back to with v1.
    redial: Option<SocketAddr>,
}

/// Settles the transport (see `transport`), then runs the connection until it ends.
async fn serve(driver: &Arc<Driver>, admitted: Admitted) -> Exit {
    let Admitted {
        id,
        stream,
        link,
        outbox,
        plan,
        redial,
    } = admitted;
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let config = &driver.config;
    // Boxed: the handshake's state is freed once it is done, so an idle connection's
    // task does not carry it.
    let negotiation = Box::pin(transport::negotiate(
        &mut reader,
        &mut writer,
        &link,
        config,
        plan,
    ))
    .await;
    let transport = match negotiation {
        Negotiation::Ready(transport) => transport,
        Negotiation::Failed(exit) => return exit,
        Negotiation::FallBackToV1 => {
            let Some(addr) = redial else {
                return (
                    DisconnectReason::ClosedByPeer,
                    "closed during the v2 handshake".into(),
                );
            };
            tracing::debug!(peer = id, %addr, "v2 handshake refused; dialling again with v1");
            match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    (reader, writer) = stream.into_split();
                    Transport::v1(config, bytes::BytesMut::new())
                }
                Ok(Err(e)) => {
                    return (
                        DisconnectReason::ConnectFailed,
                        format!("v1 redial to {addr} failed: {e}"),
                    )
                }
                Err(_) => {
                    return (
                        DisconnectReason::ConnectFailed,
                        format!("v1 redial to {addr} timed out"),
                    )
                }
            }
        }
    };
    let (version, session_id) = (transport.version, transport.session_id);
    driver
        .run(|node, _| node.transport_ready(id, version, session_id))
        .await;
    connection::run(driver.clone(), id, link, reader, writer, outbox, transport).await
}

/// Polls `future` to its end, or until it panics: `Err` with the panic, as
/// `std::panic::catch_unwind` gives it. Pinned by the caller, so that the future is
/// stored once, in the caller's.
async fn catch_panic<F: Future>(mut future: Pin<&mut F>) -> std::thread::Result<F::Output> {
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await
}

/// Opens an outbound connection the core asked for, in the background.
pub(super) fn dial(
    driver: &Driver,
    id: PeerId,
    target: DialTarget,
    plan: TransportPlan,
    origin: Origin,
) {
    let Some(driver) = driver.self_arc() else {
        return;
    };
    driver.clone().spawn(async move {
        match connect(&driver, &target).await {
            Ok((stream, addr)) => {
                let local_addr = local_addr_of(&stream);
                let (link, outbox) =
                    Link::new(driver.config.max_send_buffer, driver.traffic.clone());
                let (opened, events) = driver.open_link(&link, |node, now| {
                    node.connection_opened(id, addr, local_addr, origin, now)
                        .then_some((id, ()))
                });
                for event in events {
                    driver.events.send(event).await;
                }
                if opened.is_some() {
                    start_connection(
                        &driver,
                        Admitted {
                            id,
                            stream,
                            link,
                            outbox,
                            plan,
                            redial: Some(addr),
                        },
                    );
                }
            }
            Err(detail) => {
                driver
                    .run(|node, now| node.dial_failed(id, detail, now))
                    .await
            }
        }
    });
}

/// Resolves the target and connects to the first address that is not banned and
/// answers within the connect timeout.
async fn connect(driver: &Driver, target: &DialTarget) -> Result<(TcpStream, SocketAddr), String> {
    let (host, addrs) = match target {
        DialTarget::Addr(addr) => (addr.to_string(), vec![*addr]),
        DialTarget::Host(host, port) => {
            let addrs = tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect();
            (host.clone(), addrs)
        }
    };
    let timeout = driver.config.connect_timeout;
    let mut last_error = format!("{host} resolved to no address");
    for addr in addrs {
        let now = Driver::now();
        if driver.inspect(|node| node.is_banned(addr.ip(), now)) {
            last_error = format!("{addr} is banned");
            continue;
        }
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok((stream, addr)),
            Ok(Err(e)) => last_error = format!("connect to {addr} failed: {e}"),
            Err(_) => {
                last_error = format!(
                    "connect to {addr} timed out after {} ms",
                    timeout.as_millis()
                )
            }
        }
    }
    Err(last_error)
}
