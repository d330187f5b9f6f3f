//! Randomness from the CPU: RDSEED, else RDRAND. There is no weak fallback:
//! if neither instruction exists the image refuses to start.
//!
//! Under TDX both instructions execute natively in the guest (the host cannot
//! intercept them), which is why they are the only sources used.

use core::arch::asm;

/// The CPU has neither RDSEED nor RDRAND.
#[derive(Debug)]
pub struct NoHardwareRng;

/// Which instruction backs the generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Rdseed,
    Rdrand,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Rdseed => "rdseed",
            Source::Rdrand => "rdrand",
        }
    }
}

/// Retries before a source is declared failed (Intel recommends 10 for
/// RDRAND; RDSEED can underflow transiently, so allow more).
const RETRIES: u32 = 1024;

/// A handle to the hardware generator.
#[derive(Clone, Copy, Debug)]
pub struct HardwareRng {
    source: Source,
}

impl HardwareRng {
    /// Detects RDSEED (CPUID.(7,0):EBX[18]) or RDRAND (CPUID.1:ECX[30]).
    pub fn detect() -> Result<HardwareRng, NoHardwareRng> {
            let max = core::arch::x86_64::__cpuid(0).eax;
        let rdseed = max >= 7 && core::arch::x86_64::__cpuid_count(7, 0).ebx & (1 << 18) != 0;
        let rdrand = core::arch::x86_64::__cpuid(1).ecx & (1 << 30) != 0;
        let source = if rdseed {
            Source::Rdseed
        } else if rdrand {
            Source::Rdrand
        } else {
            return Err(NoHardwareRng);
        };
        let rng = HardwareRng { source };
        // A generator that never succeeds is as bad as none.
        rng.try_u64().ok_or(NoHardwareRng)?;
        Ok(rng)
    }

    pub fn source(&self) -> Source {
        self.source
    }

    fn step(&self) -> Option<u64> {
        let value: u64;
        let ok: u8;
        // SAFETY: the instruction was detected by CPUID above; it only writes
        // the named output register and the carry flag.
        unsafe {
            match self.source {
                Source::Rdseed => asm!("rdseed {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack)),
                Source::Rdrand => asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack)),
            }
        }
        (ok == 1).then_some(value)
    }

    /// One 64-bit value, or None if the hardware keeps failing.
    pub fn try_u64(&self) -> Option<u64> {
        (0..RETRIES).find_map(|_| {
            let v = self.step();
            if v.is_none() {
                core::hint::spin_loop();
            }
            v
        })
    }

    /// Fills `dest`. A hardware generator that fails persistently is fatal:
    /// returning predictable bytes is never an option.
    pub fn fill(&self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            match self.try_u64() {
                Some(v) => chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]),
                None => crate::platform::fatal::fatal(format_args!("hardware RNG ({}) stopped delivering", self.source.name())),
            }
        }
    }
}

impl rand_core::RngCore for HardwareRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill(dest);
        Ok(())
    }
}

/// RDSEED/RDRAND output is cryptographically secure by the CPU's contract.
impl rand_core::CryptoRng for HardwareRng {}

/// getrandom's hook for this target: the hardware generator. Until the kernel
/// has detected it, callers get an error rather than weak bytes.
fn getrandom_hardware(dest: &mut [u8]) -> Result<(), getrandom::Error> {
    match HardwareRng::detect() {
        Ok(rng) => {
            rng.fill(dest);
            Ok(())
        }
        Err(_) => Err(getrandom::Error::UNSUPPORTED),
    }
}

getrandom::register_custom_getrandom!(getrandom_hardware);
