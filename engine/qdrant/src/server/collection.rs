//! A collection on a Qdrant server or cluster: the options docent creates it with (where its
//! vectors live, shards, replicas, write consistency), the checks of one that exists, and how
//! its shards stand.

use anyhow::{Context, Result, bail};
use qdrant_client::qdrant::{
    CollectionClusterInfoRequest, CollectionClusterInfoResponse, CollectionInfo,
    CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, Distance, FieldType, Modifier,
    QuantizationType, ReadConsistencyType, ReplicaState, ScalarQuantizationBuilder,
    SparseIndexConfigBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    VectorParamsBuilder, VectorsConfigBuilder, read_consistency, vectors_config::Config,
};

use super::nodes::Nodes;
use crate::layout::{self, DENSE, DOCUMENT, LEXICAL};
use crate::scale::Layout;
use docent_core::store::{Replica, Shard, StoreMeta, Topology, Unavailable};

/// The collection metadata key under which the [`StoreMeta`] is recorded, as `docent.json` is
/// in an embedded store's folder.
const META_KEY: &str = "docent";

/// How docent uses a Qdrant server or cluster.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The nodes' gRPC URLs (`http://host:6334`): a request that cannot reach one goes to the
    /// next.
    pub urls: Vec<String>,
    /// The collection that is the store.
    pub collection: String,
    /// Where a new collection keeps its vectors and BM25 indexes, and whether it quantizes
    /// (as the embedded store: `--vectors-on-disk`, `--quantization`).
    pub layout: Layout,
    /// Shards of a new collection; `None`: Qdrant's default (one per node of a cluster).
    pub shards: Option<u32>,
    /// Copies of each shard of a new collection; `None`: 2 on a cluster of two or more
    /// nodes (one lost node loses no shard), else 1.
    pub replication_factor: Option<u32>,
    /// Copies that must confirm a write to a new collection; `None`: Qdrant's default (1).
    pub write_consistency: Option<u32>,
    /// How many copies each read asks.
    pub read_consistency: ReadConsistency,
}

/// How many copies of a shard a read asks, and which answer it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadConsistency {
    /// Any one active copy (Qdrant's default). A copy that missed a write is marked dead by
    /// the cluster and stops serving reads until it has caught up, so one copy is already a
    /// current one; and it keeps answering with only one copy of a shard left.
    #[default]
    One,
    /// This many copies; a point must be in all of their answers.
    Factor(u64),
    /// Every copy answers; a point must be in the majority of them.
    Majority,
    /// Half the copies plus one answer; a point must be in all of them.
    Quorum,
    /// Every copy answers; a point must be in all of them.
    All,
}

impl std::str::FromStr for ReadConsistency {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "1" | "one" => Ok(ReadConsistency::One),
            "majority" => Ok(ReadConsistency::Majority),
            "quorum" => Ok(ReadConsistency::Quorum),
            "all" => Ok(ReadConsistency::All),
            number => match number.parse::<u64>() {
                Ok(n) if n > 1 => Ok(ReadConsistency::Factor(n)),
                _ => Err(format!(
                    "{text:?} is not a read consistency: one of 1, 2, 3, ... (copies asked), majority, quorum or all"
                )),
            },
        }
    }
}

impl std::fmt::Display for ReadConsistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadConsistency::One => f.write_str("1"),
            ReadConsistency::Factor(n) => write!(f, "{n}"),
            ReadConsistency::Majority => f.write_str("majority"),
            ReadConsistency::Quorum => f.write_str("quorum"),
            ReadConsistency::All => f.write_str("all"),
        }
    }
}

impl ReadConsistency {
    /// As the client's requests take it.
    pub(super) fn value(self) -> read_consistency::Value {
        match self {
            ReadConsistency::One => read_consistency::Value::Factor(1),
            ReadConsistency::Factor(n) => read_consistency::Value::Factor(n),
            ReadConsistency::Majority => {
                read_consistency::Value::Type(ReadConsistencyType::Majority.into())
            }
            ReadConsistency::Quorum => {
                read_consistency::Value::Type(ReadConsistencyType::Quorum.into())
            }
            ReadConsistency::All => read_consistency::Value::Type(ReadConsistencyType::All.into()),
        }
    }
}

/// Creates the collection `options` names, or checks the one there; creates the payload
/// indexes it lacks. Learns each reachable node's peer id on the way.
pub(super) fn prepare(nodes: &Nodes, options: &ServerOptions, meta: &StoreMeta) -> Result<()> {
    open(nodes, options, meta).map_err(|error| {
        name_lost_shards(nodes, &options.collection, "opening the collection", error)
    })
}

fn open(nodes: &Nodes, options: &ServerOptions, meta: &StoreMeta) -> Result<()> {
    let name = &options.collection;
    let (exists, url) = nodes.call_node("opening the collection", |client| {
        let name = name.clone();
        async move { client.collection_exists(name).await }
    })?;
    let place = format!("Qdrant collection {name} at {url}");
    if !exists {
        create(nodes, options, meta)?;
    }
    let info = nodes
        .call("reading the collection", |client| {
            let name = name.clone();
            async move { client.collection_info(name).await }
        })?
        .result
        .unwrap_or_default();
    if exists {
        check(&info, meta, &place)?;
    }
    learn_peers(nodes, name);
    let existing = info.payload_schema;
    for (field, kind) in layout::INDEXES {
        if existing.contains_key(field) {
            continue;
        }
        let kind = match kind {
            layout::IndexType::Keyword => FieldType::Keyword,
            layout::IndexType::Integer => FieldType::Integer,
        };
        nodes.call(&format!("indexing {field}"), |client| {
            let request = CreateFieldIndexCollectionBuilder::new(name, field, kind).wait(true);
            async move { client.create_field_index(request).await }
        })?;
    }
    Ok(())
}

/// Refuses a collection (`info`) another embedder filled, or one docent did not make.
fn check(info: &CollectionInfo, meta: &StoreMeta, place: &str) -> Result<()> {
    let config = info.config.as_ref();
    let recorded = config
        .and_then(|c| c.metadata.get(META_KEY))
        .map(|v| v.clone().into_json());
    StoreMeta::check_recorded(recorded, meta, place)?;
    let params = config.and_then(|c| c.params.as_ref());
    let size = params
        .and_then(|p| p.vectors_config.as_ref())
        .and_then(|v| v.config.as_ref())
        .and_then(|c| match c {
            Config::ParamsMap(map) => map.map.get(DENSE).map(|p| p.size as usize),
            Config::Params(_) => None,
        });
    let has_lexical = params
        .and_then(|p| p.sparse_vectors_config.as_ref())
        .is_some_and(|s| s.map.contains_key(LEXICAL));
    if size != Some(meta.dimension) || !has_lexical {
        bail!(
            "{place} was not made by this docent: it needs a {}-d vector \"{DENSE}\" and a sparse vector \"{LEXICAL}\" per point; use another --collection",
            meta.dimension
        );
    }
    Ok(())
}

fn create(nodes: &Nodes, options: &ServerOptions, meta: &StoreMeta) -> Result<()> {
    let name = &options.collection;
    let on_disk = options.layout.vectors_on_disk(0);
    let replication = match options.replication_factor {
        Some(factor) => factor,
        None if peers(nodes)? >= 2 => 2,
        None => 1,
    };
    let mut dense = VectorsConfigBuilder::default();
    dense.add_named_vector_params(
        DENSE,
        VectorParamsBuilder::new(meta.dimension as u64, Distance::Cosine).on_disk(on_disk),
    );
    let sparse = || {
        SparseVectorParamsBuilder::default()
            .modifier(Modifier::Idf)
            .index(SparseIndexConfigBuilder::default().on_disk(on_disk))
    };
    let mut lexical = SparseVectorsConfigBuilder::default();
    lexical.add_named_vector_params(LEXICAL, sparse());
    lexical.add_named_vector_params(DOCUMENT, sparse());
    let recorded =
        std::collections::HashMap::from([(META_KEY.to_string(), serde_json::to_value(meta)?)]);
    let mut request = CreateCollectionBuilder::new(name)
        .vectors_config(dense)
        .sparse_vectors_config(lexical)
        // Payloads on disk, as in the embedded store: only the chunks shown are read.
        .on_disk_payload(true)
        .replication_factor(replication)
        .metadata(recorded);
    if options.layout.quantized(0) {
        request = request.quantization_config(
            ScalarQuantizationBuilder::default()
                .r#type(QuantizationType::Int8.into())
                .quantile(0.99)
                .always_ram(true),
        );
    }
    if let Some(shards) = options.shards {
        request = request.shard_number(shards);
    }
    if let Some(factor) = options.write_consistency {
        request = request.write_consistency_factor(factor);
    }
    let request = request.build();
    nodes
        .call(&format!("creating collection {name}"), |client| {
            let request = request.clone();
            async move { client.create_collection(request).await }
        })
        .with_context(|| {
            format!(
                "creating Qdrant collection {name} ({replication} replicas of each shard; a replication factor above the cluster's node count is refused)"
            )
        })?;
    tracing::info!("created Qdrant collection {name}: replication factor {replication}");
    Ok(())
}

/// How many peers the cluster has: Qdrant gives a new collection one shard per peer, so a
/// throw-away collection's shard count tells (the client API has no cluster status).
fn peers(nodes: &Nodes) -> Result<u64> {
    let probe = format!("docent-peers-{}", uuid::Uuid::new_v4().simple());
    nodes.call("counting the cluster's nodes", |client| {
        let request = CreateCollectionBuilder::new(&probe).build();
        async move { client.create_collection(request).await }
    })?;
    let info = nodes.call("counting the cluster's nodes", |client| {
        let request = CollectionClusterInfoRequest {
            collection_name: probe.clone(),
        };
        async move { client.collection_cluster_info(request).await }
    });
    nodes.call("removing the node-count probe", |client| {
        let probe = probe.clone();
        async move { client.delete_collection(probe).await }
    })?;
    Ok(info?.shard_count)
}

/// Asks every node its peer id (through the collection's cluster info), so that a node that
/// later stops answering can be named by the replicas it held.
fn learn_peers(nodes: &Nodes, name: &str) {
    for (url, info) in nodes.each(|client| cluster_info(client, name.to_string())) {
        if let Ok(info) = info {
            nodes.learn_peer(url, info.peer_id);
        }
    }
}

async fn cluster_info(
    client: qdrant_client::Qdrant,
    name: String,
) -> Result<CollectionClusterInfoResponse, qdrant_client::QdrantError> {
    client
        .collection_cluster_info(CollectionClusterInfoRequest {
            collection_name: name,
        })
        .await
}

/// The collection's shards and replicas as the nodes that answer see them. A replica is live
/// when the cluster calls it active and its peer is not known to be down: a peer is down when
/// its node was given (`--qdrant-url`) and does not answer, or, when every node of the cluster
/// was given, when it is not among those answering.
pub(super) fn topology(nodes: &Nodes, name: &str) -> Result<Topology> {
    let answers = nodes.each(|client| cluster_info(client, name.to_string()));
    let given = answers.len();
    let mut down_urls = Vec::new();
    let mut answering = std::collections::HashSet::new();
    let mut view = None;
    for (url, answer) in answers {
        match answer {
            Ok(info) => {
                nodes.learn_peer(url, info.peer_id);
                answering.insert(info.peer_id);
                view.get_or_insert(info);
            }
            Err(_) => down_urls.push(url.to_string()),
        }
    }
    let Some(info) = view else {
        bail!(Unavailable(format!(
            "no Qdrant node answers: {}. Start the server, or name a node that is up with --qdrant-url",
            down_urls.join(", ")
        )));
    };
    // The collection's parameters; a node cannot read them while a shard is out of reach.
    let params = nodes
        .call("reading the collection", |client| {
            let name = name.to_string();
            async move { client.collection_info(name).await }
        })
        .ok()
        .and_then(|info| info.result)
        .and_then(|i| i.config)
        .and_then(|c| c.params);
    let peers: std::collections::HashSet<u64> = std::iter::once(info.peer_id)
        .chain(info.remote_shards.iter().map(|r| r.peer_id))
        .collect();
    let every_node_given = given >= peers.len();
    // One node down and one peer silent: that node is that peer (a node down since before
    // this process started never said its peer id).
    let silent: Vec<u64> = peers.difference(&answering).copied().collect();
    if let ([url], [peer]) = (down_urls.as_slice(), silent.as_slice()) {
        nodes.learn_peer(url, *peer);
    }
    let replica = |peer: u64, state: i32| {
        let url = nodes.url_of_peer(peer).map(str::to_string);
        let down = !answering.contains(&peer)
            && (every_node_given || url.as_ref().is_some_and(|u| down_urls.contains(u)));
        let state = ReplicaState::try_from(state).unwrap_or(ReplicaState::Dead);
        Replica {
            peer,
            url,
            state: state.as_str_name().to_lowercase(),
            live: state == ReplicaState::Active && !down,
        }
    };
    let mut shards: std::collections::BTreeMap<u32, Vec<Replica>> = (0..info.shard_count as u32)
        .map(|id| (id, Vec::new()))
        .collect();
    for local in &info.local_shards {
        shards
            .entry(local.shard_id)
            .or_default()
            .push(replica(info.peer_id, local.state));
    }
    for remote in &info.remote_shards {
        shards
            .entry(remote.shard_id)
            .or_default()
            .push(replica(remote.peer_id, remote.state));
    }
    let most_copies = shards.values().map(Vec::len).max().unwrap_or(1) as u32;
    Ok(Topology {
        replication_factor: params
            .as_ref()
            .and_then(|p| p.replication_factor)
            .unwrap_or(most_copies),
        write_consistency: params
            .as_ref()
            .and_then(|p| p.write_consistency_factor)
            .unwrap_or(1),
        shards: shards
            .into_iter()
            .map(|(id, replicas)| Shard { id, replicas })
            .collect(),
    })
}

/// `error`, when a shard is out of reach, with the shards that are and the peers that held them.
pub(super) fn name_lost_shards(
    nodes: &Nodes,
    name: &str,
    what: &str,
    error: anyhow::Error,
) -> anyhow::Error {
    if error.downcast_ref::<Unavailable>().is_none() {
        return error;
    }
    let Ok(topology) = topology(nodes, name) else {
        return error;
    };
    let lost: Vec<String> = topology
        .lost_shards()
        .map(|shard| {
            let holders: Vec<String> = shard
                .replicas
                .iter()
                .map(|r| match &r.url {
                    Some(url) => format!("peer {} ({url})", r.peer),
                    None => format!("peer {}", r.peer),
                })
                .collect();
            format!("shard {} (on {})", shard.id, holders.join(", "))
        })
        .collect();
    if lost.is_empty() {
        if topology.all_live() {
            return error;
        }
        return Unavailable(format!(
            "{error}. Every shard still has a live copy, but this asked more copies than answer now \
             (--read-consistency above 1, or the collection's write consistency): use --read-consistency 1, or restart the node"
        ))
        .into();
    }
    Unavailable(format!(
        "cannot finish {what}: in Qdrant collection {name}, {} {} no live replica: {} not answer (replication factor {}). \
         Restart that node; a collection created with --replication-factor 2 or more keeps answering when one node is lost",
        lost.join(", "),
        if lost.len() == 1 { "has" } else { "have" },
        if lost.len() == 1 { "its node does" } else { "their nodes do" },
        topology.replication_factor,
    ))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_consistency_reads_numbers_and_names() {
        for (text, parsed) in [
            ("1", ReadConsistency::One),
            ("2", ReadConsistency::Factor(2)),
            ("majority", ReadConsistency::Majority),
            ("quorum", ReadConsistency::Quorum),
            ("all", ReadConsistency::All),
        ] {
            assert_eq!(text.parse::<ReadConsistency>().unwrap(), parsed);
            assert_eq!(parsed.to_string(), text);
        }
        let err = "0".parse::<ReadConsistency>().unwrap_err();
        assert!(err.contains("majority, quorum or all"), "{err}");
        assert!("most".parse::<ReadConsistency>().is_err());
    }
}
