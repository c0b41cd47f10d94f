//! How the embedded store keeps its data as it grows, the way Qdrant advises for large
//! collections: payloads always on disk (only the k chunks shown are read); past
//! [`ON_DISK_AFTER`] chunks, the dense vectors and the BM25 indexes move to disk (memory-mapped:
//! the page cache keeps what searches touch), with int8 copies of the dense vectors pinned in
//! RAM that the HNSW search walks, the originals rescoring the best candidates.

/// Chunks past which `--vectors-on-disk auto` keeps vectors and BM25 indexes on disk. At 384
/// dimensions, 250,000 chunks hold ~0.4 GB of f32 vectors and ~1 GB of BM25 postings.
pub const ON_DISK_AFTER: usize = 250_000;

/// Where the store keeps its vectors and BM25 indexes.
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
pub enum OnDisk {
    /// In RAM while the store is small; on disk once it holds more than [`ON_DISK_AFTER`]
    /// chunks (decided when the store is opened; its next ingest moves the data).
    #[default]
    Auto,
    /// Always on disk (memory-mapped).
    Always,
    /// Always in RAM.
    Never,
}

/// How the dense vectors are searched.
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
pub enum Quantization {
    /// int8 copies when the vectors are on disk, none while they are in RAM.
    #[default]
    Auto,
    /// Full-precision vectors only.
    None,
    /// int8 scalar copies (a quarter of the size) kept in RAM for the HNSW walk; the best
    /// candidates are rescored with the full vectors.
    Int8,
}

/// The embedded store's layout knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// Where vectors and BM25 indexes live.
    pub on_disk: OnDisk,
    /// int8 quantization of the dense vectors.
    pub quantization: Quantization,
}

impl Layout {
    /// Whether a store of `points` chunks keeps its vectors on disk.
    pub fn vectors_on_disk(&self, points: usize) -> bool {
        match self.on_disk {
            OnDisk::Auto => points > ON_DISK_AFTER,
            OnDisk::Always => true,
            OnDisk::Never => false,
        }
    }

    /// Whether a store of `points` chunks keeps int8 copies of its dense vectors.
    pub fn quantized(&self, points: usize) -> bool {
        match self.quantization {
            Quantization::Auto => self.vectors_on_disk(points),
            Quantization::Int8 => true,
            Quantization::None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_moves_to_disk_past_the_threshold_only() {
        let auto = Layout::default();
        assert!(!auto.vectors_on_disk(ON_DISK_AFTER));
        assert!(auto.vectors_on_disk(ON_DISK_AFTER + 1));
        let always = Layout {
            on_disk: OnDisk::Always,
            ..auto
        };
        assert!(always.vectors_on_disk(0));
        let never = Layout {
            on_disk: OnDisk::Never,
            ..auto
        };
        assert!(!never.vectors_on_disk(10_000_000));
        // Quantized where the vectors are on disk, unless told.
        assert!(!auto.quantized(ON_DISK_AFTER) && auto.quantized(ON_DISK_AFTER + 1));
        let plain = Layout {
            quantization: Quantization::None,
            ..always
        };
        assert!(!plain.quantized(ON_DISK_AFTER + 1));
    }
}
