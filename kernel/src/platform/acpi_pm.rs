//! Finding the ACPI PM timer (a 3.579545 MHz counter in I/O space) through the
//! firmware's ACPI tables, and turning two readings of it into a TSC frequency.
//!
//! The clock calibrates the TSC against this timer when CPUID does not report
//! the TSC frequency (the emulated platform; a TD always has CPUID 0x15). Unlike
//! a firmware `Stall()`, each reading can be bracketed by two TSC reads, so a
//! host that preempts the vCPU only widens a bracket — and the narrowest of
//! several is kept — instead of silently stretching the measured interval.
//!
//! The tables come from the host's firmware, so they are parsed with bounds:
//! every length is checked against the bytes actually read, checksums must
//! add up, and anything unexpected is an error, never a guess.

/// The PM timer's frequency in Hz (ACPI specification, fixed).
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// Largest table read (a FADT is 276 bytes; an XSDT with 512 entries ~4 KiB).
pub const MAX_TABLE_LEN: usize = 8192;

/// The PM timer's location and width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmTimer {
    /// I/O port of the 32-bit timer register.
    pub port: u16,
    /// 32 when the counter is 32 bits wide (FADT flag TMR_VAL_EXT), else 24.
    pub bits: u32,
}

/// Why no PM timer was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// Memory at this address could not be read.
    Unreadable { addr: u64 },
    /// The RSDP signature or checksum is wrong.
    BadRsdp,
    /// A table's header is wrong: signature, length or checksum.
    BadTable { signature: [u8; 4] },
    /// No FADT in the root table.
    NoFadt,
    /// The FADT names no PM timer in I/O space (or an unusable one).
    NoPmTimer,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn checksum_ok(b: &[u8]) -> bool {
    b.iter().fold(0u8, |a, x| a.wrapping_add(*x)) == 0
}

/// Reads a whole table (header first, then its stated length) with `read`.
fn read_table(read: &mut dyn FnMut(u64, &mut [u8]) -> bool, addr: u64, buf: &mut [u8; MAX_TABLE_LEN]) -> Result<usize, AcpiError> {
    if !read(addr, &mut buf[..36]) {
        return Err(AcpiError::Unreadable { addr });
    }
    let mut signature = [0u8; 4];
    signature.copy_from_slice(&buf[..4]);
    let len = u32_at(&buf[..], 4).unwrap_or(0) as usize;
    if !(36..=MAX_TABLE_LEN).contains(&len) {
        return Err(AcpiError::BadTable { signature });
    }
    if !read(addr, &mut buf[..len]) {
        return Err(AcpiError::Unreadable { addr });
    }
    if !checksum_ok(&buf[..len]) {
        return Err(AcpiError::BadTable { signature });
    }
    Ok(len)
}

/// Finds the table with `signature` through the RSDP at `rsdp_addr` (ACPI 2.0+: the XSDT; else
/// the RSDT) and reads it whole into `out`, returning its length, or `None` if the root table
/// lists no such table. `read(addr, buf)` fills `buf` from physical memory and returns false if
/// it cannot. Every length is checked against [`MAX_TABLE_LEN`], every checksum must add up.
pub fn find_table(
    read: &mut dyn FnMut(u64, &mut [u8]) -> bool,
    rsdp_addr: u64,
    signature: &[u8; 4],
    out: &mut [u8; MAX_TABLE_LEN],
) -> Result<Option<usize>, AcpiError> {
    let mut rsdp = [0u8; 36];
    if !read(rsdp_addr, &mut rsdp[..20]) {
        return Err(AcpiError::Unreadable { addr: rsdp_addr });
    }
    if &rsdp[..8] != b"RSD PTR " || !checksum_ok(&rsdp[..20]) {
        return Err(AcpiError::BadRsdp);
    }
    let revision = rsdp[15];
    // ACPI 2.0+: the XSDT (64-bit entries), whose RSDP has an extended checksum.
    let (root, entry_len) = if revision >= 2 {
        if !read(rsdp_addr, &mut rsdp) || !checksum_ok(&rsdp) {
            return Err(AcpiError::BadRsdp);
        }
        (u64_at(&rsdp, 24).ok_or(AcpiError::BadRsdp)?, 8)
    } else {
        (u64::from(u32_at(&rsdp, 16).ok_or(AcpiError::BadRsdp)?), 4)
    };
    let mut buf = [0u8; MAX_TABLE_LEN];
    let len = read_table(read, root, &mut buf)?;
    let expected = if entry_len == 8 { b"XSDT" } else { b"RSDT" };
    if &buf[..4] != expected {
        let mut signature = [0u8; 4];
        signature.copy_from_slice(&buf[..4]);
        return Err(AcpiError::BadTable { signature });
    }
    for entry in buf[36..len].chunks_exact(entry_len) {
        let mut le = [0u8; 8];
        le[..entry_len].copy_from_slice(entry);
        let addr = u64::from_le_bytes(le);
        let mut sig = [0u8; 4];
        if !read(addr, &mut sig) {
            return Err(AcpiError::Unreadable { addr });
        }
        if &sig == signature {
            return read_table(read, addr, out).map(Some);
        }
    }
    Ok(None)
}

/// Finds the PM timer starting from the RSDP at `rsdp_addr`. `read(addr, buf)` fills `buf`
/// from physical memory and returns false if it cannot.
pub fn find_pm_timer(read: &mut dyn FnMut(u64, &mut [u8]) -> bool, rsdp_addr: u64) -> Result<PmTimer, AcpiError> {
    let mut fadt = [0u8; MAX_TABLE_LEN];
    match find_table(read, rsdp_addr, b"FACP", &mut fadt)? {
        Some(len) => pm_timer_from_fadt(&fadt[..len]),
        None => Err(AcpiError::NoFadt),
    }
}

/// The PM timer named by a FADT: X_PM_TMR_BLK (generic address, ACPI 2.0+) when it is
/// in I/O space, else PM_TMR_BLK.
pub fn pm_timer_from_fadt(fadt: &[u8]) -> Result<PmTimer, AcpiError> {
    if fadt.len() < 116 {
        return Err(AcpiError::BadTable { signature: *b"FACP" });
    }
    let flags = u32_at(fadt, 112).ok_or(AcpiError::NoPmTimer)?;
    let bits = if flags & (1 << 8) != 0 { 32 } else { 24 };
    // Generic address structure at 208: space id (1 = system I/O), ..., address at 212.
    let extended = match (fadt.get(208), u64_at(fadt, 212)) {
        (Some(1), Some(addr)) if addr != 0 => Some(addr),
        _ => None,
    };
    let legacy = u64::from(u32_at(fadt, 76).ok_or(AcpiError::NoPmTimer)?);
    let addr = extended.unwrap_or(legacy);
    if addr == 0 || fadt.get(91).copied() != Some(4) && extended.is_none() {
        return Err(AcpiError::NoPmTimer);
    }
    let port = u16::try_from(addr).map_err(|_| AcpiError::NoPmTimer)?;
    Ok(PmTimer { port, bits })
}

/// TSC frequency from two (TSC, PM timer) readings: the counter wraps at `bits`, so the
/// interval must be shorter than one wrap (4.7 s at 24 bits). None if it is empty.
pub fn tsc_hz(tsc0: u64, pm0: u32, tsc1: u64, pm1: u32, bits: u32) -> Option<u64> {
    let mask: u64 = if bits >= 32 { u64::from(u32::MAX) } else { (1u64 << bits) - 1 };
    let pm_ticks = (u64::from(pm1).wrapping_sub(u64::from(pm0))) & mask;
    let tsc_ticks = tsc1.checked_sub(tsc0)?;
    if pm_ticks == 0 || tsc_ticks == 0 {
        return None;
    }
    u64::try_from(u128::from(tsc_ticks) * u128::from(PM_TIMER_HZ) / u128::from(pm_ticks)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fix_checksum(t: &mut [u8], at: usize) {
        t[at] = 0;
        let sum = t.iter().fold(0u8, |a, x| a.wrapping_add(*x));
        t[at] = 0u8.wrapping_sub(sum);
    }

    fn table(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 36];
        t[..4].copy_from_slice(sig);
        t.extend_from_slice(body);
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        fix_checksum(&mut t, 9);
        t
    }

    fn fadt(pm_tmr_blk: u32, x_pm: Option<u64>, ext32: bool) -> Vec<u8> {
        let mut body = vec![0u8; 276 - 36];
        body[76 - 36..80 - 36].copy_from_slice(&pm_tmr_blk.to_le_bytes());
        body[91 - 36] = 4;
        if ext32 {
            body[112 - 36..116 - 36].copy_from_slice(&(1u32 << 8).to_le_bytes());
        }
        if let Some(x) = x_pm {
            body[208 - 36] = 1;
            body[212 - 36..220 - 36].copy_from_slice(&x.to_le_bytes());
        }
        table(b"FACP", &body)
    }

    /// A memory image: RSDP v2 at 0x1000 → XSDT at 0x2000 → [an APIC table, the FADT].
    fn memory(fadt: Vec<u8>) -> BTreeMap<u64, Vec<u8>> {
        let mut m = BTreeMap::new();
        let mut rsdp = vec![0u8; 36];
        rsdp[..8].copy_from_slice(b"RSD PTR ");
        rsdp[15] = 2;
        rsdp[20..24].copy_from_slice(&36u32.to_le_bytes());
        rsdp[24..32].copy_from_slice(&0x2000u64.to_le_bytes());
        fix_checksum(&mut rsdp[..20], 8);
        fix_checksum(&mut rsdp, 32);
        m.insert(0x1000, rsdp);
        let mut entries = Vec::new();
        entries.extend_from_slice(&0x3000u64.to_le_bytes());
        entries.extend_from_slice(&0x4000u64.to_le_bytes());
        m.insert(0x2000, table(b"XSDT", &entries));
        m.insert(0x3000, table(b"APIC", &[0u8; 8]));
        m.insert(0x4000, fadt);
        m
    }

    fn reader(m: &BTreeMap<u64, Vec<u8>>) -> impl FnMut(u64, &mut [u8]) -> bool + '_ {
        move |addr, buf| match m.get(&addr) {
            Some(t) if t.len() >= buf.len() => {
                buf.copy_from_slice(&t[..buf.len()]);
                true
            }
            _ => false,
        }
    }

    #[test]
    fn finds_the_timer_as_qemu_publishes_it() {
        // q35: PM base 0x600, timer at 0x608, 24 bits, both fields set.
        let m = memory(fadt(0x608, Some(0x608), false));
        assert_eq!(find_pm_timer(&mut reader(&m), 0x1000), Ok(PmTimer { port: 0x608, bits: 24 }));
        // Legacy field only, 32-bit counter.
        let m = memory(fadt(0xb008, None, true));
        assert_eq!(find_pm_timer(&mut reader(&m), 0x1000), Ok(PmTimer { port: 0xb008, bits: 32 }));
    }

    #[test]
    fn refuses_what_is_not_right() {
        let m = memory(fadt(0, None, false));
        assert_eq!(find_pm_timer(&mut reader(&m), 0x1000), Err(AcpiError::NoPmTimer));
        // A port that does not fit 16 bits.
        let m = memory(fadt(0x1_0000, None, false));
        assert_eq!(find_pm_timer(&mut reader(&m), 0x1000), Err(AcpiError::NoPmTimer));
        let mut m = memory(fadt(0x608, None, false));
        m.get_mut(&0x4000).unwrap()[100] ^= 1;
        assert_eq!(find_pm_timer(&mut reader(&m), 0x1000), Err(AcpiError::BadTable { signature: *b"FACP" }));
        let mut m = memory(fadt(0x608, None, false));
        m.get_mut(&0x1000).unwrap()[0] = b'X';
        assert_eq!(find_pm_timer(&mut reader(&m), 0x1000), Err(AcpiError::BadRsdp));
        let mut m = memory(fadt(0x608, None, false));
        m.remove(&0x4000);
        assert_eq!(find_pm_timer(&mut reader(&m), 0x1000), Err(AcpiError::Unreadable { addr: 0x4000 }));
        let mut m = memory(fadt(0x608, None, false));
        m.insert(0x4000, table(b"HPET", &[0u8; 20]));
        assert_eq!(find_pm_timer(&mut reader(&m), 0x1000), Err(AcpiError::NoFadt));
        // A stated length beyond the bytes there.
        let mut m = memory(fadt(0x608, None, false));
        let t = m.get_mut(&0x2000).unwrap();
        t[4..8].copy_from_slice(&9000u32.to_le_bytes());
        assert_eq!(find_pm_timer(&mut reader(&m), 0x1000), Err(AcpiError::BadTable { signature: *b"XSDT" }));
    }

    #[test]
    fn frequency_from_two_readings_across_a_wrap() {
        // 50 ms of a 2 GHz TSC; the 24-bit counter wraps in between.
        let pm_ticks = PM_TIMER_HZ / 20;
        let pm0 = 0xff_ff00u32;
        let pm1 = ((u64::from(pm0) + pm_ticks) & 0xff_ffff) as u32;
        let hz = tsc_hz(1_000, pm0, 1_000 + 100_000_000, pm1, 24).unwrap();
        // Within 10 ppm (the 50 ms interval is a whole number of PM ticks).
        assert!((hz as i64 - 2_000_000_000).abs() < 20_000, "{hz}");
        assert_eq!(tsc_hz(5, 7, 5, 9, 24), None);
        assert_eq!(tsc_hz(5, 7, 9, 7, 24), None);
        assert_eq!(tsc_hz(9, 7, 5, 9, 24), None);
    }

    #[test]
    fn never_panics_on_damaged_tables() {
        // Every single-byte change and every truncation of a valid FADT
        // (the fuzz target `acpi_tables` covers arbitrary input).
        let good = fadt(0x608, Some(0x608), false);
        for i in 0..good.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut f = good.clone();
                f[i] = v;
                let _ = pm_timer_from_fadt(&f);
                let _ = find_pm_timer(&mut reader(&memory(f)), 0x1000);
            }
            let _ = pm_timer_from_fadt(&good[..i]);
            let _ = find_pm_timer(&mut reader(&memory(good[..i].to_vec())), 0x1000);
        }
    }
}
