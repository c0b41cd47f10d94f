//! The nodes of a Qdrant server or cluster that docent may talk to (`--qdrant-url`, repeatable).
//! A request goes to the node that answered last; when that node cannot be reached, to the
//! next. Every request docent makes is safe to send twice (upserts by id, deletes by filter,
//! reads), so a request that failed in transit is sent again to another node. Failures reach
//! the user as what happened and what to do, never as a gRPC transport dump.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use docent_core::store::Unavailable;
use qdrant_client::{Qdrant, QdrantError};
use tokio::runtime::Runtime;

/// How long a node may take to accept a connection before the next one is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one request may take (a large upsert waits for the cluster to apply it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The nodes, and the runtime their async client is driven on (the store's API is blocking).
pub(super) struct Nodes {
    nodes: Vec<Node>,
    /// The node that answered last: the next request starts there.
    preferred: AtomicUsize,
    runtime: Runtime,
}

struct Node {
    url: String,
    client: Qdrant,
    /// Its peer id in the cluster once it has said (0: not yet), so that the replicas of a
    /// node that stops answering can be named.
    peer: AtomicU64,
}

/// Why a request to one node failed.
pub(super) enum Failure {
    /// The node could not be reached (refused, reset, timed out): another may answer.
    Unreachable(String),
    /// The node answered with an error: another node would say the same.
    Refused(QdrantError),
}

impl Failure {
    fn of(error: QdrantError) -> Failure {
        match &error {
            QdrantError::ResponseError { status }
                if matches!(
                    status.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Cancelled
                ) =>
            {
                Failure::Unreachable(transport_reason(status.message()))
            }
            // The client's own connection failure (no status from any server).
            _ if is_connect_failure(&error.to_string()) => {
                Failure::Unreachable(transport_reason(&error.to_string()))
            }
            _ => Failure::Refused(error),
        }
    }
}

/// Whether a client error is its failure to reach the node itself (not a node's answer about
/// a peer it could not reach).
fn is_connect_failure(text: &str) -> bool {
    text.contains("Failed to connect") && !text.contains("operations failed")
}

/// A transport error's gist ("connection refused", "timed out"), without its dump.
fn transport_reason(message: &str) -> String {
    let lower = message.to_lowercase();
    if lower.contains("refused") {
        "connection refused".into()
    } else if lower.contains("timed out") || lower.contains("deadline") || lower.contains("timeout")
    {
        "no answer in time".into()
    } else if lower.contains("connect") {
        "cannot connect".into()
    } else {
        "connection lost".into()
    }
}

impl Nodes {
    /// Clients for `urls` (nothing is sent yet).
    pub fn new(urls: &[String]) -> Result<Self> {
        anyhow::ensure!(!urls.is_empty(), "no Qdrant URL given");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the Qdrant client runtime")?;
        let nodes = urls
            .iter()
            .map(|url| {
                let client = Qdrant::from_url(url)
                    .skip_compatibility_check()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .timeout(REQUEST_TIMEOUT)
                    .build()
                    .with_context(|| format!("configuring the Qdrant client for {url}"))?;
                Ok(Node {
                    url: url.clone(),
                    client,
                    peer: AtomicU64::new(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Nodes {
            nodes,
            preferred: AtomicUsize::new(0),
            runtime,
        })
    }

    /// Runs `request` on the first node that answers, starting from the one that answered last.
    /// `what` names the operation in errors ("searching", "writing 64 points").
    pub fn call<T, F, Fut>(&self, what: &str, request: F) -> Result<T>
    where
        F: Fn(Qdrant) -> Fut,
        Fut: Future<Output = Result<T, QdrantError>>,
    {
        self.call_node(what, request).map(|(value, _)| value)
    }

    /// As [`call`](Self::call), also saying which node answered.
    pub fn call_node<T, F, Fut>(&self, what: &str, request: F) -> Result<(T, &str)>
    where
        F: Fn(Qdrant) -> Fut,
        Fut: Future<Output = Result<T, QdrantError>>,
    {
        let first = self.preferred.load(Ordering::Relaxed);
        let mut unreachable = Vec::new();
        for offset in 0..self.nodes.len() {
            let index = (first + offset) % self.nodes.len();
            let node = &self.nodes[index];
            match self.runtime.block_on(request(node.client.clone())) {
                Ok(value) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok((value, &node.url));
                }
                Err(error) => match Failure::of(error) {
                    Failure::Unreachable(reason) => {
                        tracing::warn!("Qdrant node {} while {what}: {reason}", node.url);
                        unreachable.push(format!("{} ({reason})", node.url));
                    }
                    Failure::Refused(error) => return Err(explain(&error, &node.url, what)),
                },
            }
        }
        Err(Unavailable(format!(
            "no Qdrant node answers while {what}: {}. Start the server, or name a node that is up with --qdrant-url (repeatable)",
            unreachable.join(", ")
        ))
        .into())
    }

    /// Runs `request` on every node, each result beside its URL (a node that cannot be
    /// reached gives its `Failure`).
    pub fn each<T, F, Fut>(&self, request: F) -> Vec<(&str, Result<T, Failure>)>
    where
        F: Fn(Qdrant) -> Fut,
        Fut: Future<Output = Result<T, QdrantError>>,
    {
        self.nodes
            .iter()
            .map(|node| {
                let result = self
                    .runtime
                    .block_on(request(node.client.clone()))
                    .map_err(Failure::of);
                (node.url.as_str(), result)
            })
            .collect()
    }

    /// Records that the node at `url` is cluster peer `peer`.
    pub fn learn_peer(&self, url: &str, peer: u64) {
        if let Some(node) = self.nodes.iter().find(|n| n.url == url) {
            node.peer.store(peer, Ordering::Relaxed);
        }
    }

    /// The URL of the node known to be cluster peer `peer`.
    pub fn url_of_peer(&self, peer: u64) -> Option<&str> {
        self.nodes
            .iter()
            .find(|n| n.peer.load(Ordering::Relaxed) == peer)
            .map(|n| n.url.as_str())
    }
}

/// An error a node answered with, told as what it means for the user.
fn explain(error: &QdrantError, url: &str, what: &str) -> anyhow::Error {
    let QdrantError::ResponseError { status } = error else {
        return anyhow!("Qdrant at {url}, while {what}: {error}");
    };
    let message = status.message();
    // A node that answers but cannot reach the peers holding enough copies of a shard.
    if message.contains("operations failed") && is_transport(message) {
        let peer = peer_address(message)
            .map(|a| format!(" (the cluster peer at {a} does not answer)"))
            .unwrap_or_default();
        return Unavailable(format!(
            "a shard of the collection could not be read or written on enough of its copies{peer} while {what}; restart that node"
        ))
        .into();
    }
    let first_line = message.lines().next().unwrap_or(message);
    anyhow!("Qdrant at {url} refused {what}: {first_line}")
}

/// Whether a node's error message is about a peer it could not reach.
fn is_transport(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "unavailable",
        "connect error",
        "transport",
        "connection refused",
        "timed out",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// The `host:port` of the peer a cluster-internal transport error names, if it names one.
pub(super) fn peer_address(message: &str) -> Option<String> {
    // tonic's connect errors end in `ConnectError("tcp connect error", 127.0.0.1:6335, ...)`.
    message
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | '"'))
        .find(|word| {
            word.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty()
                    && port.len() <= 5
                    && port.parse::<u16>().is_ok()
                    && host.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':')
                    })
            })
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transport_dump_is_read_for_its_peer_and_gist() {
        let dump = "Service internal error: 1 of 1 read operations failed: Service internal error: \
                    Tonic status error: code: 'The service is currently unavailable', message: \"tcp connect error\", \
                    source: tonic::transport::Error(Transport, ConnectError(\"tcp connect error\", 127.0.0.1:6335, \
                    Os { code: 111, kind: ConnectionRefused, message: \"Connection refused\" })) MetadataMap { headers: {} }";
        assert!(is_transport(dump));
        assert_eq!(peer_address(dump).as_deref(), Some("127.0.0.1:6335"));
        assert_eq!(
            transport_reason("tcp connect error: Connection refused"),
            "connection refused"
        );
        assert_eq!(transport_reason("Timeout expired"), "no answer in time");
        assert!(!is_transport(
            "Wrong input: Not existing vector name error: dense"
        ));
        assert_eq!(
            peer_address("Not found: Collection `docs` doesn't exist!"),
            None
        );
    }
}
