//! What Node's `ClusterAdapter` (the base class of `createShardedAdapter` and of
//! `@socket.io/redis-streams-adapter`) does whatever carries its messages, shared by
//! [`RedisShardedAdapter`](crate::RedisShardedAdapter) and
//! [`RedisStreamsAdapter`](crate::RedisStreamsAdapter): answering the other servers' requests,
//! and making this server's own (`fetchSockets`, `serverSideEmit` with acks, broadcasts with
//! acks).
//!
//! An adapter provides a [`ClusterNode`]: its identity, how it publishes a request, answers a
//! requester and counts the servers. How a plain broadcast and `socketsJoin`-like operations
//! travel stays with each adapter (Pub/Sub for the sharded one, the stream for the other).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ferrio::adapter::{AdapterError, AdapterFuture, BroadcastOptions as LocalOptions};
use ferrio::parser::Payload;
use ferrio::{Namespace, RemoteSocket as LocalRemoteSocket};
use tokio::sync::mpsc;

use crate::adapter::{
    answer_payload, broadcast_with_ack_for_peer, err, expected_acks, forward_client_acks,
    from_wire_socket, local_opts, payload_to_value, ready, request_answers, request_name, rooms_of,
    route_cluster_response, server_side_answer, to_wire_socket, value_to_payload, wire_opts,
    BroadcastWithAck, PendingRequests,
};
use crate::cluster::{generate_uid, ClusterBody, MessageType};
use crate::{BroadcastFlags, BroadcastOptions, Packet};

/// A future that resolves once Redis took a message (or could not).
pub(crate) type Sent = Pin<Box<dyn Future<Output = Result<(), AdapterError>> + Send + 'static>>;

/// A future that resolves to the number of servers of the namespace, this one included.
pub(crate) type Count = Pin<Box<dyn Future<Output = Result<usize, AdapterError>> + Send + 'static>>;

/// One namespace's adapter, as the shared `ClusterAdapter` behaviour sees it.
pub(crate) trait ClusterNode: Send + Sync + 'static {
    /// The namespace's name.
    fn nsp(&self) -> &str;
    /// The namespace, while it exists.
    fn namespace(&self) -> Option<Arc<Namespace>>;
    /// Where background work (waiting for acks) runs.
    fn handle(&self) -> &tokio::runtime::Handle;
    /// How long this server waits for the others' answers, and answers for its listeners.
    fn requests_timeout(&self) -> Duration;
    /// This server's requests that wait for answers.
    fn pending(&self) -> &Arc<PendingRequests<MessageType, ClusterBody>>;
    /// Sends a request to every server of the namespace.
    fn publish_request(&self, body: ClusterBody) -> Sent;
    /// Sends an answer to the server `requester` (by uid), in the background.
    fn respond(&self, requester: &str, body: ClusterBody);
    /// Counts the servers of the namespace.
    fn server_count(&self) -> Count;
}

// ---- the other servers' messages ------------------------------------------------------------

/// Applies a message of server `from` other than a plain broadcast (whose delivery each
/// adapter does itself): a broadcast with acks, `socketsJoin`/`socketsLeave`,
/// `disconnectSockets`, the requests to answer, and the answers to this server's requests.
pub(crate) fn on_message<N: ClusterNode>(
    node: &Arc<N>,
    ns: &Arc<Namespace>,
    from: String,
    body: ClusterBody,
) {
    match body {
        ClusterBody::Broadcast {
            packet,
            request_id: Some(request_id),
            opts,
        } => on_broadcast_with_ack(node, ns, from, request_id, packet, opts),
        ClusterBody::SocketsJoin { opts, rooms } => {
            ns.add_sockets_local(&local_opts(&opts, false), &rooms_of(&rooms))
        }
        ClusterBody::SocketsLeave { opts, rooms } => {
            ns.del_sockets_local(&local_opts(&opts, false), &rooms_of(&rooms))
        }
        ClusterBody::DisconnectSockets { opts, close } => {
            ns.disconnect_sockets_local(&local_opts(&opts, false), close)
        }
        ClusterBody::FetchSockets { opts, request_id } => {
            let sockets = ns
                .fetch_sockets_local(&local_opts(&opts, false))
                .iter()
                .map(to_wire_socket)
                .collect();
            node.respond(
                &from,
                ClusterBody::FetchSocketsResponse {
                    request_id,
                    sockets,
                },
            );
        }
        ClusterBody::ServerSideEmit { request_id, packet } => {
            let answer = ns.server_side_emit_local(value_to_payload(&packet), request_id.is_some());
            if let (Some(request_id), Some(answer)) = (request_id, answer) {
                // The first listener's answer; with no listener (or none in time) an answer
                // without argument, rather than letting the requester time out.
                let me = node.clone();
                let wait = node.requests_timeout();
                node.handle().spawn(async move {
                    let packet = server_side_answer(answer, wait).await;
                    me.respond(
                        &from,
                        ClusterBody::ServerSideEmitResponse { request_id, packet },
                    );
                });
            }
        }
        // Responses may come this way too (Node's `onMessage` forwards them).
        body if body.is_response() => route_cluster_response(node.pending(), body),
        _ => {} // heartbeats, ADAPTER_CLOSE, and plain broadcasts (the adapter's)
    }
}

/// Another server's broadcast with acks: the client count, then each client's ack, to it.
fn on_broadcast_with_ack<N: ClusterNode>(
    node: &Arc<N>,
    ns: &Arc<Namespace>,
    from: String,
    request_id: String,
    packet: Packet,
    opts: BroadcastOptions,
) {
    let wait = opts
        .flags
        .as_ref()
        .and_then(BroadcastFlags::timeout)
        .map(Duration::from_millis)
        .unwrap_or(node.requests_timeout());
    let (count, rx) = broadcast_with_ack_for_peer(ns, &packet, &opts, wait);
    node.respond(
        &from,
        ClusterBody::BroadcastClientCount {
            request_id: request_id.clone(),
            client_count: count as u64,
        },
    );
    if count == 0 {
        return;
    }
    let me = node.clone();
    node.handle()
        .spawn(forward_client_acks(rx, count, wait, move |packet| {
            me.respond(
                &from,
                ClusterBody::BroadcastAck {
                    request_id: request_id.clone(),
                    packet,
                },
            );
        }));
}

// ---- this server's requests -----------------------------------------------------------------

/// Publishes a request and collects the answers of the `servers - 1` other servers.
async fn collect<N: ClusterNode>(
    node: &N,
    kind: MessageType,
    timeout: Duration,
    make: impl FnOnce(String) -> ClusterBody,
) -> Result<Vec<ClusterBody>, AdapterError> {
    let servers = node.server_count().await?;
    if servers <= 1 {
        return Ok(Vec::new());
    }
    let request_id = generate_uid();
    let request = make(request_id.clone());
    request_answers(
        node.pending(),
        node.nsp(),
        kind,
        request_name(kind),
        request_id,
        servers,
        timeout,
        || node.publish_request(request),
    )
    .await
}

/// [`Adapter::broadcast_with_ack`](ferrio::adapter::Adapter::broadcast_with_ack): the local
/// sockets at once, the others' through a request whose answers are the client counts.
pub(crate) fn broadcast_with_ack<N: ClusterNode>(
    node: &Arc<N>,
    local: &Arc<Namespace>,
    data: Payload,
    opts: &LocalOptions,
    id: u64,
    acks: mpsc::UnboundedSender<Payload>,
) -> AdapterFuture<usize> {
    let value = (!opts.flags.local).then(|| payload_to_value(&data));
    let local_count = local.broadcast_with_ack_local(data, opts, id, acks.clone());
    let Some(Ok(value)) = value else {
        return ready(local_count);
    };
    let b = BroadcastWithAck::register(node.pending(), node.handle(), opts, acks);
    let published = node.publish_request(ClusterBody::Broadcast {
        packet: Packet::event(value, None),
        request_id: Some(b.request_id),
        opts: b.opts,
    });
    Box::pin(expected_acks(
        node.nsp().to_owned(),
        published,
        node.server_count(),
        b.counts,
        local_count,
        b.timeout,
    ))
}

/// [`Adapter::fetch_sockets`](ferrio::adapter::Adapter::fetch_sockets): the local sockets and
/// those the other servers answer with (within the `timeout` flag or the requests timeout).
pub(crate) fn fetch_sockets<N: ClusterNode>(
    node: &Arc<N>,
    local: &Arc<Namespace>,
    opts: &LocalOptions,
) -> AdapterFuture<Vec<LocalRemoteSocket>> {
    let mut sockets = local.fetch_sockets_local(opts);
    if opts.flags.local {
        return ready(sockets);
    }
    let node = node.clone();
    let ns = local.clone();
    let wire = wire_opts(opts, true);
    let timeout = opts.flags.timeout.unwrap_or(node.requests_timeout());
    Box::pin(async move {
        let answers = collect(&*node, MessageType::FetchSockets, timeout, |request_id| {
            ClusterBody::FetchSockets {
                opts: wire,
                request_id,
            }
        })
        .await?;
        for a in answers {
            if let ClusterBody::FetchSocketsResponse {
                sockets: remote, ..
            } = a
            {
                sockets.extend(remote.into_iter().filter_map(|s| from_wire_socket(&ns, s)));
            }
        }
        Ok(sockets)
    })
}

/// [`Adapter::server_side_emit`](ferrio::adapter::Adapter::server_side_emit): published to the
/// other servers; with acks, their answers (one per server) within the requests timeout.
pub(crate) fn server_side_emit<N: ClusterNode>(
    node: &Arc<N>,
    data: Payload,
    with_ack: bool,
) -> AdapterFuture<Vec<Payload>> {
    let packet = match payload_to_value(&data) {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    if !with_ack {
        let published = node.publish_request(ClusterBody::ServerSideEmit {
            request_id: None,
            packet,
        });
        return Box::pin(async move {
            published.await?;
            Ok(Vec::new())
        });
    }
    let node = node.clone();
    Box::pin(async move {
        let timeout = node.requests_timeout();
        let answers = collect(&*node, MessageType::ServerSideEmit, timeout, |request_id| {
            ClusterBody::ServerSideEmit {
                request_id: Some(request_id),
                packet,
            }
        })
        .await?;
        Ok(answers
            .iter()
            .filter_map(|a| match a {
                ClusterBody::ServerSideEmitResponse { packet, .. } => Some(answer_payload(packet)),
                _ => None,
            })
            .collect())
    })
}
