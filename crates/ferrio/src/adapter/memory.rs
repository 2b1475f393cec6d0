//! The in-memory adapter: one server, every operation applied locally at once.

use super::{Adapter, AdapterError, AdapterFuture, BroadcastOptions, Room};
use crate::namespace::Namespace;
use crate::parser::Payload;
use crate::remote::RemoteSocket;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The adapter of a single server.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryAdapter;

fn ready<T: Send + 'static>(v: T) -> AdapterFuture<T> {
    Box::pin(std::future::ready(Ok::<T, AdapterError>(v)))
}

impl Adapter for MemoryAdapter {
    fn broadcast(
        &self,
        local: &Arc<Namespace>,
        data: Payload,
        opts: &BroadcastOptions,
    ) -> AdapterFuture<()> {
        local.broadcast_local(data, opts);
        ready(())
    }

    fn broadcast_with_ack(
        &self,
        local: &Arc<Namespace>,
        data: Payload,
        opts: &BroadcastOptions,
        id: u64,
        acks: mpsc::UnboundedSender<Payload>,
    ) -> AdapterFuture<usize> {
        ready(local.broadcast_with_ack_local(data, opts, id, acks))
    }

    fn fetch_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &BroadcastOptions,
    ) -> AdapterFuture<Vec<RemoteSocket>> {
        ready(local.fetch_sockets_local(opts))
    }

    fn add_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &BroadcastOptions,
        rooms: Vec<Room>,
    ) -> AdapterFuture<()> {
        local.add_sockets_local(opts, &rooms);
        ready(())
    }

    fn del_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &BroadcastOptions,
        rooms: Vec<Room>,
    ) -> AdapterFuture<()> {
        local.del_sockets_local(opts, &rooms);
        ready(())
    }

    fn disconnect_sockets(
        &self,
        local: &Arc<Namespace>,
        opts: &BroadcastOptions,
        close: bool,
    ) -> AdapterFuture<()> {
        local.disconnect_sockets_local(opts, close);
        ready(())
    }

    fn server_side_emit(
        &self,
        _local: &Arc<Namespace>,
        _data: Payload,
        _with_ack: bool,
    ) -> AdapterFuture<Vec<Payload>> {
        // There are no other servers.
        ready(Vec::new())
    }

    fn server_count(&self) -> AdapterFuture<usize> {
        ready(1)
    }
}
