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
    /// Loads a model where `self` asks: `on_gpu` builds it on the first CUDA GPU, `on_cpu` on
    /// the CPU. `auto` tries the GPU and, where this build or machine cannot run it there (no
    /// `cuda` feature, no driver, no GPU, too little memory), falls back to the CPU, logging
    /// why; `cuda` fails with the reason and what to do. `flag` names the option in messages.
    pub fn load<T>(
        self,
        flag: &str,
        on_gpu: impl FnOnce() -> anyhow::Result<T>,
        on_cpu: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<(T, Place)> {
        // The reason on one line: CUDA errors can carry a backtrace after it.
        let reason = |why: anyhow::Error| {
            let why = format!("{why:#}");
            why.lines().next().unwrap_or_default().to_string()
        };
        let loaded = match self {
            Device::Cpu => (on_cpu()?, Place::Cpu),
            Device::Cuda => match on_gpu() {
                Ok(model) => (model, Place::Cuda),
                Err(why) => anyhow::bail!(
                    "{flag} cuda: cannot run on a CUDA GPU ({}). A GPU needs docent built with \
                     the cargo feature `cuda` (`make build-cuda`), the NVIDIA driver and a GPU; \
                     or use {flag} cpu",
                    reason(why)
                ),
            },
            Device::Auto => match on_gpu() {
                Ok(model) => (model, Place::Cuda),
                Err(why) => {
                    let why = reason(why);
                    tracing::info!("{flag} auto: no GPU to run on ({why}); using the CPU");
                    (on_cpu()?, Place::Cpu)
                }
            },
        };
        tracing::info!("{flag} {self}: running on {:?}", loaded.1);
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu_ok() -> anyhow::Result<&'static str> {
        Ok("gpu")
    }
    fn gpu_missing() -> anyhow::Result<&'static str> {
        anyhow::bail!("no CUDA device")
    }
    fn cpu() -> anyhow::Result<&'static str> {
        Ok("cpu")
    }

    #[test]
    fn auto_takes_the_gpu_when_it_works_and_the_cpu_otherwise() {
        assert_eq!(
            Device::Auto.load("--device", gpu_ok, cpu).unwrap(),
            ("gpu", Place::Cuda)
        );
        assert_eq!(
            Device::Auto.load("--device", gpu_missing, cpu).unwrap(),
            ("cpu", Place::Cpu)
        );
        assert_eq!(
            Device::Cpu.load("--device", gpu_ok, cpu).unwrap(),
            ("cpu", Place::Cpu)
        );
    }

    #[test]
    fn cuda_without_a_gpu_says_why_and_what_to_do() {
        let err = Device::Cuda
            .load("--embed-device", gpu_missing, cpu)
            .unwrap_err()
            .to_string();
        for part in ["no CUDA device", "make build-cuda", "--embed-device cpu"] {
            assert!(err.contains(part), "{err}");
        }
    }
}
