//! Handlers and their extractors.
//!
//! An event handler is an async closure whose arguments are *extractors*: each reads what it
//! needs from the incoming event, so the signature says what the handler uses.
//!
//! | extractor | gives |
//! |---|---|
//! | [`SocketRef`] | the socket that received the event |
//! | [`Data<T>`] | the arguments, deserialized (a tuple for several; see [`parser::value`](crate::parser::value)); the handler is skipped (and the failure logged) when they do not fit `T` |
//! | [`TryData<T>`] | the same, as a `Result`, so the handler decides |
//! | [`AckSender`] | answers the client's acknowledgement (a no-op when none was requested) |
//! | [`Event`] | the event name |
//!
//! ```no_run
//! use ferrio::{AckSender, Data, SocketIo, SocketRef};
//! # fn f(io: SocketIo) {
//! io.ns("/", |socket: SocketRef| async move {
//!     socket.on("add", |Data((a, b)): Data<(i64, i64)>, ack: AckSender| async move {
//!         ack.send(&(a + b)).ok();
//!     });
//! });
//! # }
//! ```
//!
//! Handlers of one socket start in the order the packets arrived: each handler runs
//! synchronously until its first `.await` that is not ready, before the next packet is read,
//! like JavaScript's event listeners. Work that waits continues on its own task.
//!
//! A panic in a handler (before or after an `.await`), a middleware or a listener is caught:
//! it is logged (`error`, target `ferrio::handler`) and the connection it ran for is closed
//! with [`DisconnectReason::HandlerPanicked`]; its sockets leave their namespaces as on any
//! close, so nothing stays behind. (In Node a throwing listener ends the process.)

use crate::client::Conn;
use crate::parser::{from_args, Payload};
use crate::socket::{AckSender, SocketRef};
use crate::DisconnectReason;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs `fut` until it first waits, then on its own task: keeps the synchronous part of
/// handlers in arrival order without a task per event.
///
/// Every poll is under `catch_unwind`: a panic is logged and closes `conn` with
/// [`DisconnectReason::HandlerPanicked`] (see [`panicked`]).
pub(crate) fn run_inline(mut fut: BoxFuture, conn: &Conn) {
    let mut cx = Context::from_waker(Waker::noop());
    match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(())) => {}
        // The noop waker is replaced when the task polls the future again.
        Ok(Poll::Pending) => {
            tokio::spawn(Guarded {
                fut,
                conn: conn.clone(),
            });
        }
        Err(panic) => panicked(conn, "a handler", &*panic),
    }
}

/// The rest of a handler, on its own task, still isolated.
struct Guarded {
    fut: BoxFuture,
    conn: Conn,
}

impl Future for Guarded {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match catch_unwind(AssertUnwindSafe(|| this.fut.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(panic) => {
                panicked(&this.conn, "a handler", &*panic);
                Poll::Ready(())
            }
        }
    }
}

/// Calls a user callback `f` (named `what` in the log); a panic is caught, logged and closes
/// `conn` (see [`panicked`]), and gives `None`.
pub(crate) fn isolate<R>(conn: &Conn, what: &'static str, f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(panic) => {
            panicked(conn, what, &*panic);
            None
        }
    }
}

/// A user callback panicked: logs it (`ferrio::handler`, error) and closes the connection with
/// [`DisconnectReason::HandlerPanicked`]. Every socket of the connection then leaves its
/// namespace as on any close (rooms, acks, recovery, `disconnect` listeners), so nothing is
/// left behind. (Node's `socket.io` lets the exception kill the process.)
pub(crate) fn panicked(conn: &Conn, what: &str, panic: &(dyn std::any::Any + Send)) {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("");
    tracing::error!(target: "ferrio::handler", conn = %conn.id(), panic = message, "{what} panicked: closing the connection");
    conn.close(DisconnectReason::HandlerPanicked);
}

/// What an event handler is called with.
#[derive(Debug)]
pub struct EventParts {
    /// The socket.
    pub socket: SocketRef,
    /// The event name.
    pub event: String,
    /// The arguments (the event name removed).
    pub args: Payload,
    /// The acknowledgement, when the client asked for one.
    pub ack: AckSender,
}

/// A value an event handler can take as an argument.
pub trait FromEvent: Sized {
    /// Reads the value; `Err` skips the handler, with the reason logged.
    fn from_event(parts: &mut EventParts) -> Result<Self, String>;
}

impl FromEvent for SocketRef {
    fn from_event(parts: &mut EventParts) -> Result<Self, String> {
        Ok(parts.socket.clone())
    }
}

impl FromEvent for AckSender {
    fn from_event(parts: &mut EventParts) -> Result<Self, String> {
        Ok(std::mem::replace(
            &mut parts.ack,
            AckSender::none(parts.socket.clone()),
        ))
    }
}

/// The event's arguments, deserialized into `T`.
#[derive(Debug, Clone)]
pub struct Data<T>(pub T);

impl<T: DeserializeOwned> FromEvent for Data<T> {
    fn from_event(parts: &mut EventParts) -> Result<Self, String> {
        from_args(parts.args.items(), &parts.args.attachments)
            .map(Data)
            .map_err(|e| format!("arguments do not fit: {e}"))
    }
}

/// The event's arguments, or why they did not deserialize into `T`.
#[derive(Debug)]
pub struct TryData<T>(pub Result<T, serde_json::Error>);

impl<T: DeserializeOwned> FromEvent for TryData<T> {
    fn from_event(parts: &mut EventParts) -> Result<Self, String> {
        Ok(TryData(from_args(
            parts.args.items(),
            &parts.args.attachments,
        )))
    }
}

/// The raw arguments: the JSON values with binary placeholders and the attachments.
impl FromEvent for Payload {
    fn from_event(parts: &mut EventParts) -> Result<Self, String> {
        Ok(std::mem::take(&mut parts.args))
    }
}

/// The event name.
#[derive(Debug, Clone)]
pub struct Event(pub String);

impl FromEvent for Event {
    fn from_event(parts: &mut EventParts) -> Result<Self, String> {
        Ok(Event(parts.event.clone()))
    }
}

/// A function that handles an event. Implemented for async closures of up to five extractors.
pub trait EventHandler<M>: Send + Sync + 'static {
    /// Builds the handler's future, or `None` when an extractor refused the event.
    fn call(&self, parts: EventParts) -> Option<BoxFuture>;
}

macro_rules! impl_handler {
    ($($ty:ident),*) => {
        #[allow(non_snake_case, unused_mut, unused_variables)]
        impl<F, Fut, $($ty,)*> EventHandler<($($ty,)*)> for F
        where
            F: Fn($($ty,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($ty: FromEvent + Send + 'static,)*
        {
            fn call(&self, mut parts: EventParts) -> Option<BoxFuture> {
                $(
                    let $ty = match $ty::from_event(&mut parts) {
                        Ok(v) => v,
                        Err(reason) => {
                            tracing::debug!(target: "ferrio::handler", event = %parts.event, %reason, "handler skipped");
                            return None;
                        }
                    };
                )*
                Some(Box::pin((self)($($ty,)*)))
            }
        }
    };
}

impl_handler!();
impl_handler!(A);
impl_handler!(A, B);
impl_handler!(A, B, C);
impl_handler!(A, B, C, D);
impl_handler!(A, B, C, D, E);

pub(crate) type ErasedEventHandler = Arc<dyn Fn(EventParts) -> Option<BoxFuture> + Send + Sync>;

pub(crate) fn erase<M, H: EventHandler<M>>(h: H) -> ErasedEventHandler {
    Arc::new(move |parts| h.call(parts))
}

/// A connection handler: called with each new socket of a namespace.
pub trait ConnectHandler: Send + Sync + 'static {
    /// Builds the handler's future.
    fn call(&self, socket: SocketRef) -> BoxFuture;
}

impl<F, Fut> ConnectHandler for F
where
    F: Fn(SocketRef) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, socket: SocketRef) -> BoxFuture {
        Box::pin((self)(socket))
    }
}

/// A namespace middleware: runs before a socket joins, and may refuse it.
pub trait ConnectMiddleware: Send + Sync + 'static {
    /// Checks the socket (its [`handshake`](SocketRef::handshake) holds the auth payload).
    fn call(
        &self,
        socket: SocketRef,
    ) -> Pin<Box<dyn Future<Output = Result<(), crate::ConnectError>> + Send + 'static>>;
}

impl<F, Fut> ConnectMiddleware for F
where
    F: Fn(SocketRef) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), crate::ConnectError>> + Send + 'static,
{
    fn call(
        &self,
        socket: SocketRef,
    ) -> Pin<Box<dyn Future<Output = Result<(), crate::ConnectError>> + Send + 'static>> {
        Box::pin((self)(socket))
    }
}
