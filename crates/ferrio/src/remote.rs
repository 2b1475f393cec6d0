//! [`RemoteSocket`]: a socket found by `fetch_sockets`, on this server or another.

use crate::adapter::{BroadcastOptions, Room};
use crate::errors::EmitError;
use crate::handshake::Handshake;
use crate::namespace::Namespace;
use crate::operators::BroadcastOperators;
use crate::socket::SocketRef;
use ferrio_engine::Sid;
use serde::Serialize;
use std::sync::Arc;

/// A socket of the cluster, as returned by `fetch_sockets` (`RemoteSocket` in the reference).
///
/// Its methods go through the adapter, so they work wherever the socket is connected.
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    /// The socket id.
    pub id: Sid,
    /// The handshake.
    pub handshake: Handshake,
    /// The rooms it was in when fetched.
    pub rooms: Vec<Room>,
    /// Its JSON data ([`SocketRef::set_data`]; `null` when unset).
    pub data: serde_json::Value,
    /// The socket itself when it is connected to this server.
    pub local: Option<SocketRef>,
    ns: Arc<Namespace>,
}

impl RemoteSocket {
    pub(crate) fn from_local(ns: Arc<Namespace>, s: &SocketRef) -> Self {
        RemoteSocket {
            id: s.id(),
            handshake: s.handshake().clone(),
            rooms: s.rooms(),
            data: s.data_value(),
            local: Some(s.clone()),
            ns,
        }
    }

    /// A remote socket described by a cluster peer.
    pub fn from_parts(ns: Arc<Namespace>, id: Sid, handshake: Handshake, rooms: Vec<Room>) -> Self {
        RemoteSocket {
            id,
            handshake,
            rooms,
            data: serde_json::Value::Null,
            local: None,
            ns,
        }
    }

    /// The same socket with its JSON data, as a cluster peer described it.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }

    fn me(&self) -> BroadcastOperators {
        BroadcastOperators::new(self.ns.clone()).to(self.id)
    }

    /// Emits an event to this socket.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        self.me().emit(event, args).await
    }

    /// Makes the socket join rooms.
    pub async fn join(&self, rooms: impl crate::adapter::IntoRooms) -> Result<(), EmitError> {
        self.me().sockets_join(rooms).await
    }

    /// Makes the socket leave rooms.
    pub async fn leave(&self, rooms: impl crate::adapter::IntoRooms) -> Result<(), EmitError> {
        self.me().sockets_leave(rooms).await
    }

    /// Disconnects the socket (and its connection with `close`).
    pub async fn disconnect(&self, close: bool) -> Result<(), EmitError> {
        let opts = BroadcastOptions::to_room(Room::from(self.id.as_str()));
        Ok(self
            .ns
            .adapter
            .disconnect_sockets(&self.ns, &opts, close)
            .await?)
    }
}
