//! Intel AMX: eight tile registers of sixteen rows of 64 bytes, and an instruction that
//! multiplies two of them (16 × 64 signed or unsigned bytes, by 64 × 16 in groups of four) into
//! a third's 16 × 16 32-bit sums: 16,384 products, where a `vpdpbusd` makes 64.
//!
//! Linux hands out the tile registers only to a process that asks (`arch_prctl`), and each
//! thread sets their shapes (`ldtilecfg`) before it uses them. Rust has no stable AMX
//! intrinsics, hence `asm!` (in [`crate::ktiles`]).

use std::sync::OnceLock;

/// Activation rows in a tile.
pub const ROWS: usize = 16;

/// Whether this CPU has AMX with 8-bit products, and Linux let this process use it.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if std::env::var_os("DOCENT_NO_AMX").is_some() {
            return false;
        }
        detect()
    })
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    use std::arch::x86_64::__cpuid_count;
    let features = __cpuid_count(7, 0);
    let (tile, int8) = (features.edx & (1 << 24) != 0, features.edx & (1 << 25) != 0);
    if !(tile && int8) {
        return false;
    }
    const ARCH_REQ_XCOMP_PERM: libc::c_int = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_ulong = 18;
    // SAFETY: a request for a permission, with no memory passed.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// This thread's eight tile registers, each set to sixteen rows of 64 bytes (`ldtilecfg`);
/// released (`tilerelease`) when dropped.
pub struct Tiles(());

impl Tiles {
    /// # Safety
    /// [`available`] said yes.
    pub unsafe fn load() -> Self {
        #[repr(C, align(64))]
        struct Config([u8; 64]);
        let mut config = Config([0; 64]);
        config.0[0] = 1; // palette 1
        for tile in 0..8 {
            config.0[16 + 2 * tile..][..2].copy_from_slice(&64u16.to_le_bytes());
            config.0[48 + tile] = ROWS as u8;
        }
        // SAFETY: the caller's AMX; the configuration is 64 valid bytes.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::asm!("ldtilecfg [{0}]", in(reg) config.0.as_ptr(), options(nostack, readonly));
        }
        Tiles(())
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: the tiles were configured by this thread.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::asm!("tilerelease", options(nostack, nomem))
        };
    }
}

/// Sixteen rows of sixteen 32-bit sums, as a tile stores them.
#[repr(C, align(64))]
pub struct Sums(pub [i32; 256]);
