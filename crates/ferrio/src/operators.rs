//! [`BroadcastOperators`]: `to`, `except`, `local`, `volatile`, `timeout`… and what they
//! select: emit, emit with acks, fetch, join, leave, disconnect.

use crate::adapter::{BroadcastOptions, IntoRooms, Room};
use crate::errors::{AckError, EmitError};
use crate::namespace::Namespace;
use crate::parser::{event_payload, is_reserved_event, Payload};
use crate::remote::RemoteSocket;
use crate::socket::FromAck;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The default time to wait for acknowledgements of a broadcast without
/// [`timeout`](BroadcastOperators::timeout).
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// A selection of sockets of a namespace, across the cluster. Immutable: each operator
/// returns a new selection.
///
/// ```no_run
/// # async fn f(io: ferrio::SocketIo) {
/// io.to("room1").except("banned").emit("news", &"hello").await.ok();
/// let answers: Result<Vec<String>, _> =
///     io.to("room1").timeout(std::time::Duration::from_secs(1)).emit_with_ack("ask", &()).await;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BroadcastOperators {
    ns: Arc<Namespace>,
    opts: BroadcastOptions,
}

/// A broadcast's acknowledgements did not all come in time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BroadcastAckError<R> {
    /// Some clients did not answer in time; `responses` holds those that did.
    #[error("operation has timed out")]
    Timeout {
        /// The acknowledgements that came.
        responses: Vec<R>,
    },
    /// An acknowledgement did not deserialize.
    #[error(transparent)]
    Ack(#[from] AckError),
}

impl BroadcastOperators {
    pub(crate) fn new(ns: Arc<Namespace>) -> Self {
        BroadcastOperators {
            ns,
            opts: BroadcastOptions::default(),
        }
    }

    /// Only sockets in `rooms` (a union with earlier calls).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        for r in rooms.into_rooms() {
            if !self.opts.rooms.contains(&r) {
                self.opts.rooms.push(r);
            }
        }
        self
    }

    /// Same as [`to`](Self::to) (`in` in the reference).
    pub fn within(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Not the sockets in `rooms`.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        for r in rooms.into_rooms() {
            if !self.opts.except.contains(&r) {
                self.opts.except.push(r);
            }
        }
        self
    }

    /// Only sockets of this server.
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// Packets may be dropped for clients that are not ready (a full send queue).
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// Whether to compress the packets (recorded for cluster peers).
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.flags.compress = Some(compress);
        self
    }

    /// How long [`emit_with_ack`](Self::emit_with_ack) waits.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.flags.timeout = Some(timeout);
        self
    }

    /// The options these operators stand for.
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    fn payload<T: Serialize + ?Sized>(event: &str, args: &T) -> Result<Payload, EmitError> {
        if is_reserved_event(event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        Ok(event_payload(event, args)?)
    }

    /// Emits an event to the selected sockets.
    ///
    /// The packet is encoded once and reaches this server's sockets before the call returns;
    /// the future resolves when the cluster has it.
    pub fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> impl Future<Output = Result<(), EmitError>> + Send + 'static {
        let sent = Self::payload(event, args)
            .map(|data| self.ns.adapter.broadcast(&self.ns, data, &self.opts));
        async move { Ok(sent?.await?) }
    }

    /// Emits an event with raw arguments (JSON values with binary placeholders, and their
    /// attachments), e.g. relaying what a client sent.
    pub fn emit_payload(
        &self,
        event: &str,
        args: Payload,
    ) -> impl Future<Output = Result<(), EmitError>> + Send + 'static {
        let sent = Self::check(event).map(|()| {
            self.ns
                .adapter
                .broadcast(&self.ns, crate::socket::with_event(event, args), &self.opts)
        });
        async move { Ok(sent?.await?) }
    }

    fn check(event: &str) -> Result<(), EmitError> {
        if is_reserved_event(event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        Ok(())
    }

    /// Emits an event to the selected sockets and collects one acknowledgement from each
    /// (its first argument, or all of them with `R` = [`Payload`]), within the
    /// [`timeout`](Self::timeout) ([`DEFAULT_ACK_TIMEOUT`] when unset).
    pub fn emit_with_ack<R: FromAck, T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> impl Future<Output = Result<Vec<R>, BroadcastAckError<R>>> + Send + 'static {
        let timeout = self.opts.flags.timeout.unwrap_or(DEFAULT_ACK_TIMEOUT);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let id = self.ns.next_ack_id();
        let sent = Self::payload(event, args).map(|data| {
            self.ns
                .adapter
                .broadcast_with_ack(&self.ns, data, &self.opts, id, tx)
        });
        async move {
            let expected = sent
                .map_err(AckError::from)?
                .await
                .map_err(EmitError::from)
                .map_err(AckError::from)?;
            let mut responses = Vec::with_capacity(expected);
            let deadline = tokio::time::Instant::now() + timeout;
            while responses.len() < expected {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(p)) => responses.push(first_arg::<R>(p)?),
                    Ok(None) | Err(_) => return Err(BroadcastAckError::Timeout { responses }),
                }
            }
            Ok(responses)
        }
    }

    /// The selected sockets, on every server.
    pub fn fetch_sockets(
        &self,
    ) -> impl Future<Output = Result<Vec<RemoteSocket>, EmitError>> + Send + 'static {
        let f = self.ns.adapter.fetch_sockets(&self.ns, &self.opts);
        async move { Ok(f.await?) }
    }

    /// Makes the selected sockets join `rooms` (`socketsJoin`).
    pub fn sockets_join(
        &self,
        rooms: impl IntoRooms,
    ) -> impl Future<Output = Result<(), EmitError>> + Send + 'static {
        let f = self
            .ns
            .adapter
            .add_sockets(&self.ns, &self.opts, rooms.into_rooms());
        async move { Ok(f.await?) }
    }

    /// Makes the selected sockets leave `rooms` (`socketsLeave`).
    pub fn sockets_leave(
        &self,
        rooms: impl IntoRooms,
    ) -> impl Future<Output = Result<(), EmitError>> + Send + 'static {
        let f = self
            .ns
            .adapter
            .del_sockets(&self.ns, &self.opts, rooms.into_rooms());
        async move { Ok(f.await?) }
    }

    /// Disconnects the selected sockets (`disconnectSockets`), and their connections with
    /// `close`.
    pub fn disconnect_sockets(
        &self,
        close: bool,
    ) -> impl Future<Output = Result<(), EmitError>> + Send + 'static {
        let f = self
            .ns
            .adapter
            .disconnect_sockets(&self.ns, &self.opts, close);
        async move { Ok(f.await?) }
    }

    pub(crate) fn ns_ref(&self) -> &Arc<Namespace> {
        &self.ns
    }

    /// The rooms of this selection as given.
    pub fn rooms(&self) -> &[Room] {
        &self.opts.rooms
    }
}

/// A broadcast acknowledgement keeps the client's first argument (as the reference does),
/// unless `R` asks for the raw list.
fn first_arg<R: FromAck>(p: Payload) -> Result<R, AckError> {
    Ok(R::from_ack(p)?)
}
