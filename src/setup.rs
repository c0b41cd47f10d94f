//! Opening what a command needs: the embedder, the store (embedded or a Qdrant server) and,
//! for `ask` and `serve`, the generator.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use docent_core::retrieve::{FollowUpRule, ModelPlanner, PlannerBudget};
use docent_core::store::StoreMeta;
use docent_core::{Embedder, Engine, Generator, ModelPaths, QueryPlanner, VectorStore};
use docent_embed::EmbedderKind;
use docent_generate::GgufGenerator;
use docent_qdrant::{EdgeStore, Layout, QdrantServerStore, ServerOptions};

use crate::cli::{GeneratorArgs, Planner, StoreArgs};

/// docent's folders by the XDG rules: data (`$XDG_DATA_HOME/docent`, else
/// `~/.local/share/docent`) and cache (`$XDG_CACHE_HOME/docent`, else `~/.cache/docent`); `./docent`
/// for both when there is no home folder.
fn project_dir(pick: fn(&directories::ProjectDirs) -> &std::path::Path) -> PathBuf {
    directories::ProjectDirs::from("", "", "docent")
        .map_or_else(|| PathBuf::from("docent"), |dirs| pick(&dirs).to_path_buf())
}

/// Where the embedded store lives unless `--store` says otherwise.
fn default_store_dir() -> PathBuf {
    project_dir(directories::ProjectDirs::data_dir).join("store")
}

/// Where `eval` keeps a store per evaluation set.
pub fn eval_cache_dir() -> PathBuf {
    project_dir(directories::ProjectDirs::cache_dir).join("eval")
}

/// The embedder asked for; else the one the embedded store was built with; else e5.
pub fn embedder(args: &StoreArgs) -> Result<Arc<dyn Embedder>> {
    let models = ModelPaths::locate(args.models.as_deref());
    let recorded = || -> Result<Option<EmbedderKind>> {
        if !args.qdrant_url.is_empty() {
            return Ok(None);
        }
        Ok(EdgeStore::recorded_meta(&store_dir(args))?
            .and_then(|meta| EmbedderKind::recorded(&meta.embedder)))
    };
    let kind = match args.embedder {
        Some(kind) => kind,
        None => recorded()?.unwrap_or_default(),
    };
    kind.load(&models, args.embed_device)
}

/// The embedded store's folder (for a Qdrant server store, the one it would have).
pub fn store_dir(args: &StoreArgs) -> PathBuf {
    args.store.clone().unwrap_or_else(default_store_dir)
}

/// The embedded store's layout knobs (`--vectors-on-disk`, `--quantization`).
pub fn layout(args: &StoreArgs) -> Layout {
    Layout {
        on_disk: args.vectors_on_disk,
        quantization: args.quantization,
    }
}

/// The Qdrant server or cluster the flags name, if they name one.
pub fn server_options(args: &StoreArgs) -> Option<ServerOptions> {
    (!args.qdrant_url.is_empty()).then(|| ServerOptions {
        urls: args.qdrant_url.clone(),
        collection: args.collection.clone(),
        layout: layout(args),
        shards: args.shards,
        replication_factor: args.replication_factor,
        write_consistency: args.write_consistency,
        read_consistency: args.read_consistency,
    })
}

pub fn store(args: &StoreArgs, embedder: &dyn Embedder) -> Result<Arc<dyn VectorStore>> {
    let meta = StoreMeta::of(embedder);
    Ok(match server_options(args) {
        Some(options) => Arc::new(QdrantServerStore::connect(&options, &meta)?),
        None => Arc::new(EdgeStore::open(&store_dir(args), &meta, layout(args))?),
    })
}

/// The chat model the flags name (`--model`, `--device`).
pub fn generator(store: &StoreArgs, args: &GeneratorArgs) -> Result<Arc<dyn Generator>> {
    Ok(Arc::new(GgufGenerator::load(
        &generator_path(store, args)?,
        args.device,
    )?))
}

/// The GGUF the flags name, a base model too (for `bench generate`, which continues text).
pub fn any_gguf(store: &StoreArgs, args: &GeneratorArgs) -> Result<GgufGenerator> {
    GgufGenerator::load_any(&generator_path(store, args)?, args.device)
}

fn generator_path(store: &StoreArgs, args: &GeneratorArgs) -> Result<PathBuf> {
    let models = ModelPaths::locate(store.models.as_deref());
    let path = args
        .model
        .as_deref()
        .map_or_else(|| models.default_generator(), |model| models.resolve(model));
    models.require(&path)?;
    Ok(path)
}

/// Embedder, store and (when asked for) generator, ready to answer, with `planner`'s choice
/// of query planner.
pub fn engine(
    store_args: &StoreArgs,
    generator_args: Option<&GeneratorArgs>,
    planner: Planner,
) -> Result<Engine> {
    let embedder = embedder(store_args)?;
    let store = store(store_args, embedder.as_ref())?;
    let generator = generator_args
        .map(|g| generator(store_args, g))
        .transpose()?;
    let budget = generator_args.map_or_else(PlannerBudget::default, GeneratorArgs::planner_budget);
    let planner: Arc<dyn QueryPlanner> = match (planner, &generator) {
        (Planner::Rule, None) => Arc::new(FollowUpRule),
        (Planner::Rule, Some(generator)) => {
            Arc::new(ModelPlanner::phrasings_only(generator.clone(), budget))
        }
        (Planner::Model, Some(generator)) => Arc::new(ModelPlanner::new(generator.clone(), budget)),
        (Planner::Model, None) => anyhow::bail!(
            "--planner model needs a generator, and none was loaded: leave out --answer-mode extract, or use --planner rule"
        ),
    };
    Ok(Engine::new(embedder, store, generator)?
        .with_fusion(store_args.fusion)
        .with_planner(planner))
}
