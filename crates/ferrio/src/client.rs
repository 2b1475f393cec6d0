//! The Socket.IO side of one Engine.IO connection: packet decoding, namespace CONNECTs,
//! routing to sockets, and the end of the connection.

use crate::errors::{DisconnectReason, EmitError};
use crate::handler::run_inline;
use crate::handshake::Handshake;
use crate::namespace::Namespace;
use crate::parser::{Decoder, JsonDecoder, JsonParser, Packet, PacketKind, Parser};
use crate::server::ServerInner;
use crate::socket::SocketRef;
use ferrio_engine::{CloseReason, EngineHandler, Frame, Message, SendError, Sid};
use serde_json::Value;
use std::sync::{Arc, Mutex, RwLock};

/// How long the WebSocket writer waits after a CONNECT reply.
const CONNECT_REPLY_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

/// A packet encoded once, shareable by every recipient.
pub(crate) struct EncodedFrames {
    text: Frame,
    /// The text frame followed by the attachments, when there are any: shared by every
    /// recipient.
    with_attachments: Option<std::sync::Arc<[Frame]>>,
}

impl EncodedFrames {
    pub(crate) fn encode(packet: &Packet) -> Self {
        let e = JsonParser::new().encode(packet);
        let mut text = String::with_capacity(e.text.len() + 1);
        text.push('4');
        text.push_str(&e.text);
        let text = Frame::message_prefixed(text).unwrap_or_else(|t| Frame::message(&t));
        let with_attachments = (!e.attachments.is_empty()).then(|| {
            std::iter::once(text.clone())
                .chain(e.attachments.into_iter().map(Frame::Binary))
                .collect()
        });
        EncodedFrames {
            text,
            with_attachments,
        }
    }
}

/// Per-connection state of the Socket.IO server, kept in the Engine.IO session.
pub struct ClientData {
    decoder: Mutex<Option<JsonDecoder>>,
    sockets: RwLock<Vec<(String, SocketRef)>>,
    close_reason: Mutex<Option<DisconnectReason>>,
    /// A namespace was joined once: the connect timeout no longer applies.
    joined: std::sync::atomic::AtomicBool,
    /// Ends the connect-timeout task at the first join, so that a connected client holds no
    /// task of its own.
    joined_wake: tokio::sync::Notify,
}

impl std::fmt::Debug for ClientData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientData").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Default for ClientData {
    fn default() -> Self {
        ClientData {
            decoder: Mutex::new(None),
            sockets: RwLock::new(Vec::new()),
            close_reason: Mutex::new(None),
            joined: std::sync::atomic::AtomicBool::new(false),
            joined_wake: tokio::sync::Notify::new(),
        }
    }
}

/// The underlying connection of a socket.
#[derive(Clone)]
pub(crate) struct Conn(pub(crate) ferrio_engine::Socket<ClientData>);

impl Conn {
    pub(crate) fn id(&self) -> Sid {
        self.0.id()
    }

    pub(crate) fn transport(&self) -> ferrio_engine::TransportKind {
        self.0.transport()
    }

    fn data(&self) -> &ClientData {
        self.0.data()
    }

    pub(crate) fn send_packet(&self, packet: &Packet, volatile: bool) -> Result<(), EmitError> {
        self.send_frames(&EncodedFrames::encode(packet), volatile)
    }

    /// Queues a packet. A full queue drops a volatile packet and otherwise disconnects the
    /// slow client.
    pub(crate) fn send_frames(&self, f: &EncodedFrames, volatile: bool) -> Result<(), EmitError> {
        let r = match &f.with_attachments {
            None => self
                .0
                .send(f.text.clone())
                .map_err(|e| matches!(e, SendError::Full(_))),
            Some(frames) => self
                .0
                .send_shared(frames.clone())
                .map_err(|e| matches!(e, SendError::Full(_))),
        };
        match r {
            Ok(()) => Ok(()),
            Err(true) if volatile => Ok(()),
            Err(true) => {
                tracing::warn!(target: "ferrio::client", conn = %self.id(), "send queue full: disconnecting the slow client");
                self.close(DisconnectReason::TransportError);
                Err(EmitError::QueueFull)
            }
            Err(false) => Err(EmitError::Disconnected),
        }
    }

    pub(crate) fn socket(&self, nsp: &str) -> Option<SocketRef> {
        let s = self
            .data()
            .sockets
            .read()
            .unwrap_or_else(|e| e.into_inner());
        s.iter().find(|(n, _)| n == nsp).map(|(_, s)| s.clone())
    }

    fn sockets(&self) -> Vec<SocketRef> {
        let s = self
            .data()
            .sockets
            .read()
            .unwrap_or_else(|e| e.into_inner());
        s.iter().map(|(_, s)| s.clone()).collect()
    }

    fn add_socket(&self, socket: &SocketRef) {
        self.data()
            .joined
            .store(true, std::sync::atomic::Ordering::Release);
        self.data().joined_wake.notify_one();
        let mut s = self
            .data()
            .sockets
            .write()
            .unwrap_or_else(|e| e.into_inner());
        s.push((socket.nsp().to_owned(), socket.clone()));
    }

    pub(crate) fn remove_socket(&self, nsp: &str) {
        let mut s = self
            .data()
            .sockets
            .write()
            .unwrap_or_else(|e| e.into_inner());
        s.retain(|(n, _)| n != nsp);
    }

    /// Closes the connection; its sockets leave with `reason`.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        if let Ok(mut r) = self.data().close_reason.lock() {
            r.get_or_insert(reason);
        }
        self.0.close();
    }

    /// `socket.disconnect(true)`: every namespace is disconnected, then the connection closed.
    pub(crate) fn disconnect_all(&self) {
        for socket in self.sockets() {
            let _ = self.send_packet(&Packet::disconnect(socket.nsp().to_owned()), false);
            socket.close(DisconnectReason::ServerNamespaceDisconnect);
        }
        self.close(DisconnectReason::ForcedServerClose);
    }
}

/// The Engine.IO handler of the Socket.IO server (see [`SocketIo::engine`](crate::SocketIo::engine)).
pub struct Client {
    pub(crate) server: Arc<ServerInner>,
}

impl EngineHandler for Client {
    type Data = ClientData;

    fn on_open(&self, socket: &ferrio_engine::Socket<ClientData>) {
        if let Ok(mut d) = socket.data().decoder.lock() {
            *d = Some(JsonDecoder::new(self.server.config.max_attachments));
        }
        // A connection that joins no namespace within `connect_timeout` is closed.
        let conn = Conn(socket.clone());
        let timeout = self.server.config.connect_timeout;
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(timeout) => {
                    if !conn.data().joined.load(std::sync::atomic::Ordering::Acquire) {
                        tracing::debug!(target: "ferrio::client", conn = %conn.id(), "no namespace joined in time");
                        conn.close(DisconnectReason::ForcedClose);
                    }
                }
                _ = conn.0.closed() => {}
                _ = conn.data().joined_wake.notified() => {}
            }
        });
    }

    fn on_message(&self, socket: &ferrio_engine::Socket<ClientData>, message: Message) {
        let conn = Conn(socket.clone());
        let decoded = {
            let mut d = socket
                .data()
                .decoder
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let Some(decoder) = d.as_mut() else { return };
            match message {
                Message::Text(t) => decoder.decode_text(&t),
                Message::Binary(b) => decoder.decode_binary(b),
            }
        };
        match decoded {
            Ok(Some(packet)) => self.on_packet(&conn, packet),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(target: "ferrio::client", conn = %conn.id(), error = %e, "invalid packet: closing the connection");
                conn.close(DisconnectReason::ParseError);
            }
        }
    }

    fn on_close(&self, socket: &ferrio_engine::Socket<ClientData>, reason: CloseReason) {
        let conn = Conn(socket.clone());
        let reason = if self.server.is_closing() {
            DisconnectReason::ServerShuttingDown
        } else {
            conn.data()
                .close_reason
                .lock()
                .ok()
                .and_then(|r| *r)
                .unwrap_or_else(|| reason.into())
        };
        for s in conn.sockets() {
            s.close(reason);
        }
    }
}

impl Client {
    fn on_packet(&self, conn: &Conn, packet: Packet) {
        let Packet { nsp, kind } = packet;
        let socket = conn.socket(&nsp);
        match (kind, socket) {
            (PacketKind::Connect(auth), None) => self.connect(conn, nsp, auth),
            (PacketKind::Event { data, id }, Some(s)) => s.on_event(data, id),
            (PacketKind::Ack { data, id }, Some(s)) => s.on_ack(id, data),
            (PacketKind::Disconnect, Some(s)) => {
                s.close(DisconnectReason::ClientNamespaceDisconnect)
            }
            (kind, _) => {
                tracing::debug!(target: "ferrio::client", conn = %conn.id(), nsp, ?kind, "packet in the wrong state: closing");
                conn.close(DisconnectReason::ParseError);
            }
        }
    }

    fn connect(&self, conn: &Conn, nsp: String, auth: Option<Value>) {
        if nsp.len() > crate::MAX_NAMESPACE_LEN {
            // Neither kept (a dynamic namespace) nor echoed in a CONNECT_ERROR.
            tracing::debug!(target: "ferrio::client", conn = %conn.id(), len = nsp.len(), "namespace name too long: closing");
            conn.close(DisconnectReason::ParseError);
            return;
        }
        let Some(ns) = self.server.namespace_for(&nsp) else {
            let err = serde_json::json!({ "message": "Invalid namespace" });
            let _ = conn.send_packet(&Packet::connect_error(nsp, err), false);
            return;
        };
        let auth = auth.unwrap_or_else(|| Value::Object(Default::default()));
        let fut = connect(ns, conn.clone(), auth);
        run_inline(Box::pin(fut), conn);
    }
}

async fn connect(ns: Arc<Namespace>, conn: Conn, auth: Value) {
    // Connection state recovery: `{pid, offset}` in the auth payload, restored by the adapter
    // (from memory by default).
    let mut restored = None;
    if let Some(store) = &ns.recovery {
        store.bind(&ns);
        let pid = auth.get("pid").and_then(Value::as_str);
        let offset = auth.get("offset").and_then(Value::as_str);
        if let (Some(Ok(pid)), Some(offset)) = (pid.map(str::parse::<Sid>), offset) {
            match ns
                .adapter
                .restore_session(&ns, pid, offset.to_owned())
                .await
            {
                Ok(r) => restored = r.map(|r| (pid, r)),
                Err(e) => {
                    tracing::debug!(target: "ferrio::socket", nsp = %ns.name, error = %e, "session not restored")
                }
            }
        }
    }
    let skip_middlewares = restored.is_some()
        && ns
            .recovery
            .as_ref()
            .is_some_and(|r| r.config.skip_middlewares);
    let (id, pid) = match &restored {
        Some((pid, r)) => (r.sid, Some(*pid)),
        None => (Sid::new(), ns.recovery.as_ref().map(|_| Sid::new())),
    };
    let handshake = Handshake::new(conn.0.request(), auth);
    let socket = SocketRef::new(id, pid, ns.clone(), conn.clone(), handshake);
    // A restored socket gets its data back before the middlewares run, as in the reference.
    if let Some((_, r)) = &restored {
        if !r.data.is_null() {
            let _ = socket.set_data(&r.data);
        }
    }

    if !skip_middlewares {
        let middlewares = ns
            .setup
            .middlewares
            .read()
            .map(|m| m.clone())
            .unwrap_or_default();
        for mw in middlewares {
            if let Err(e) = mw.call(socket.clone()).await {
                let packet = Packet::connect_error(ns.name.clone(), e.to_value());
                let _ = conn.send_packet(&packet, false);
                return;
            }
        }
    }
    if conn.0.is_closed() || conn.socket(&ns.name).is_some() {
        return;
    }

    let recovered = restored.is_some();
    let (rooms, missed) = match restored {
        Some((_, r)) => (r.rooms, r.missed_packets),
        None => (Vec::new(), Vec::new()),
    };
    socket
        .0
        .recovered
        .store(recovered, std::sync::atomic::Ordering::Release);
    socket
        .0
        .connected
        .store(true, std::sync::atomic::Ordering::Release);
    ns.add_socket(&socket, rooms);
    conn.add_socket(&socket);

    // Missed packets first, then the CONNECT reply (as the reference does).
    for data in missed {
        let _ = conn.send_packet(&Packet::event(ns.name.clone(), data, None), false);
    }
    let mut reply = serde_json::Map::new();
    reply.insert("sid".into(), Value::String(socket.id().to_string()));
    if let Some(pid) = pid {
        reply.insert("pid".into(), Value::String(pid.to_string()));
    }
    let _ = conn.send_packet(
        &Packet::connect(ns.name.clone(), Some(Value::Object(reply))),
        false,
    );
    // Let the reply reach the client on its own before the handler's first packets (see
    // `Socket::pause_writes`).
    conn.0.pause_writes(CONNECT_REPLY_PAUSE);
    tracing::debug!(target: "ferrio::socket", id = %socket.id(), nsp = %ns.name, conn = %conn.id(), recovered, "connect");
    let span = socket.span();
    tracing::Instrument::instrument(ns.setup.handler.call(socket), span).await;
}
