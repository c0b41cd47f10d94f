//! Where a model runs: the choice people make (`--device`, `--embed-device`) and the one rule
//! that turns it into a place, shared by every backend that can use a GPU (the generator and
//! the candle embedder each map the result onto their library's device).

/// Where to run a model, as asked for.
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
pub enum Device {
    /// The GPU when this build has CUDA and one is present, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA GPU (a build with the `cuda` feature).
    Cuda,
}

/// Where a model will run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The CPU.
    Cpu,
    /// The first CUDA GPU.
    Cuda,
}

impl Device {
    /// Where `self` runs, given whether this build and machine have CUDA (`cuda_available`);
    /// `flag` names the option in the error when CUDA was asked for and is not there.
    pub fn place(self, cuda_available: bool, flag: &str) -> anyhow::Result<Place> {
        match self {
            Device::Cpu => Ok(Place::Cpu),
            Device::Cuda if !cuda_available => anyhow::bail!(
                "{flag} cuda: this docent has no CUDA (built without `--features cuda`, or no GPU \
                 and driver found). Build it with `cargo build --release --features cuda` (needs \
                 nvcc) on a machine with an NVIDIA driver, or use {flag} cpu"
            ),
            Device::Cuda => Ok(Place::Cuda),
            Device::Auto if cuda_available => Ok(Place::Cuda),
            Device::Auto => Ok(Place::Cpu),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_cuda_and_cuda_without_it_says_what_to_do() {
        assert_eq!(Device::Auto.place(true, "--device").unwrap(), Place::Cuda);
        assert_eq!(Device::Auto.place(false, "--device").unwrap(), Place::Cpu);
        assert_eq!(Device::Cpu.place(true, "--device").unwrap(), Place::Cpu);
        let err = Device::Cuda
            .place(false, "--embed-device")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--embed-device cpu"), "{err}");
        assert!(err.contains("--features cuda"), "{err}");
    }
}
