//! The QEMU ACPI inputs of RTMR0: the linker/loader script and the blobs it allocates.
//!
//! TDVF (edk2-stable202502, OvmfPkg/Library/AcpiPlatformLib/QemuFwCfgAcpi.c) measures, into
//! RTMR0 as EV_PLATFORM_CONFIG_FLAGS "ACPI DATA" events: first the fw_cfg file
//! `etc/table-loader` as fetched, then each blob named by an ALLOCATE command of that script, in
//! script order, as fetched (before any pointer or checksum patching). QEMU generates these from
//! the machine configuration (vCPU count, memory, devices, QEMU version), so they are an input
//! the host has to supply: either the raw fw_cfg files ([`AcpiInput::Blobs`]) or the three
//! digests taken from an event log of a launch with the same configuration
//! ([`AcpiInput::Digests`]).
//!
//! Loader script format (QEMU hw/acpi/bios-linker-loader.c): 128-byte entries, a u32 command
//! first. ALLOCATE (1): file name (56 bytes, NUL-terminated), alignment u32, zone u8. Other
//! commands (ADD_POINTER 2, ADD_CHECKSUM 3, WRITE_POINTER 4) and padding do not add events.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::rtmr::{sha384, Sha384Digest};

/// Loader script entry size.
pub const LOADER_ENTRY_LEN: usize = 128;
/// fw_cfg file name length in loader entries.
pub const FILE_NAME_LEN: usize = 56;
/// Largest loader script or blob read.
pub const MAX_BLOB_LEN: usize = 16 * 1024 * 1024;
/// Most ALLOCATE commands accepted.
pub const MAX_ALLOCATIONS: usize = 64;
const CMD_ALLOCATE: u32 = 1;

/// Why the ACPI inputs were rejected.
#[derive(Debug)]
pub enum AcpiError {
    /// The loader script length is not a multiple of 128.
    LoaderLength(usize),
    /// An ALLOCATE entry's file name is not NUL-terminated printable ASCII, or is unsafe as a
    /// relative path (absolute, `..`, empty component).
    BadFileName { entry: usize },
    /// The same file is allocated twice (OVMF rejects that too).
    DuplicateAllocation { entry: usize },
    TooManyAllocations,
    /// The script allocates nothing.
    NoAllocations,
    /// A file could not be read.
    Io { path: PathBuf, error: std::io::Error },
    TooLarge { path: PathBuf },
    /// An MADT could not be parsed from `etc/acpi/tables`.
    Madt(&'static str),
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcpiError::LoaderLength(n) => write!(f, "table-loader length {n} is not a multiple of 128"),
            AcpiError::BadFileName { entry } => write!(f, "table-loader entry {entry}: bad file name"),
            AcpiError::DuplicateAllocation { entry } => write!(f, "table-loader entry {entry}: file allocated twice"),
            AcpiError::TooManyAllocations => write!(f, "more than {MAX_ALLOCATIONS} ALLOCATE commands"),
            AcpiError::NoAllocations => write!(f, "table-loader allocates no blob"),
            AcpiError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            AcpiError::TooLarge { path } => write!(f, "{}: larger than {MAX_BLOB_LEN} bytes", path.display()),
            AcpiError::Madt(what) => write!(f, "MADT: {what}"),
        }
    }
}

impl std::error::Error for AcpiError {}

fn safe_name(raw: &[u8]) -> Option<String> {
    let end = raw.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(raw.get(..end)?).ok()?;
    let ok_chars = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b));
    let ok_parts = !name.is_empty()
        && !name.starts_with('/')
        && name.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    (ok_chars && ok_parts).then(|| name.to_string())
}

/// File names of the ALLOCATE commands of a loader script, in script order.
pub fn loader_allocations(loader: &[u8]) -> Result<Vec<String>, AcpiError> {
    if !loader.len().is_multiple_of(LOADER_ENTRY_LEN) {
        return Err(AcpiError::LoaderLength(loader.len()));
    }
    let mut names = Vec::new();
    let mut seen = BTreeSet::new();
    for (entry, raw) in loader.chunks_exact(LOADER_ENTRY_LEN).enumerate() {
        let command = raw.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
        if command != Some(CMD_ALLOCATE) {
            continue;
        }
        let name = raw
            .get(4..4 + FILE_NAME_LEN)
            .and_then(safe_name)
            .ok_or(AcpiError::BadFileName { entry })?;
        if !seen.insert(name.clone()) {
            return Err(AcpiError::DuplicateAllocation { entry });
        }
        names.push(name);
        if names.len() > MAX_ALLOCATIONS {
            return Err(AcpiError::TooManyAllocations);
        }
    }
    if names.is_empty() {
        return Err(AcpiError::NoAllocations);
    }
    Ok(names)
}

/// The ACPI part of a launch.
#[derive(Clone, Debug)]
pub enum AcpiInput {
    /// Raw fw_cfg files: `etc/table-loader` and the blobs it allocates, by name.
    Blobs { loader: Vec<u8>, blobs: Vec<(String, Vec<u8>)> },
    /// Digests of the "ACPI DATA" events in measurement order (loader first), e.g. from the
    /// event log of a launch with the same host configuration.
    Digests(Vec<Sha384Digest>),
}

/// One ACPI measurement: what was hashed and its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiMeasurement {
    pub file: String,
    pub digest: Sha384Digest,
}

impl AcpiInput {
    /// Reads `DIR/table-loader` and, for each ALLOCATE command, `DIR/<fw_cfg file name>`
    /// (e.g. `DIR/etc/acpi/rsdp`).
    pub fn from_dir(dir: &Path) -> Result<Self, AcpiError> {
        let loader = read_bounded(&dir.join("table-loader"))?;
        let mut blobs = Vec::new();
        for name in loader_allocations(&loader)? {
            let bytes = read_bounded(&dir.join(&name))?;
            blobs.push((name, bytes));
        }
        Ok(AcpiInput::Blobs { loader, blobs })
    }

    /// The RTMR0 "ACPI DATA" measurements, in order.
    pub fn measurements(&self) -> Result<Vec<AcpiMeasurement>, AcpiError> {
        match self {
            AcpiInput::Digests(digests) => Ok(digests
                .iter()
                .enumerate()
                .map(|(i, d)| AcpiMeasurement { file: format!("digest #{i} (host-supplied)"), digest: *d })
                .collect()),
            AcpiInput::Blobs { loader, blobs } => {
                let order = loader_allocations(loader)?;
                let mut out = vec![AcpiMeasurement { file: "etc/table-loader".into(), digest: sha384(loader) }];
                for name in order {
                    let (_, bytes) = blobs
                        .iter()
                        .find(|(n, _)| *n == name)
                        .ok_or(AcpiError::Io {
                            path: PathBuf::from(&name),
                            error: std::io::Error::new(std::io::ErrorKind::NotFound, "blob not supplied"),
                        })?;
                    out.push(AcpiMeasurement { file: name, digest: sha384(bytes) });
                }
                Ok(out)
            }
        }
    }

    /// Enabled processors in the MADT of `etc/acpi/tables`, when the blobs are available.
    pub fn madt_cpu_count(&self) -> Result<Option<usize>, AcpiError> {
        match self {
            AcpiInput::Digests(_) => Ok(None),
            AcpiInput::Blobs { blobs, .. } => match blobs.iter().find(|(n, _)| n == "etc/acpi/tables") {
                Some((_, tables)) => madt_enabled_cpus(tables).map(Some),
                None => Ok(None),
            },
        }
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, AcpiError> {
    let meta = std::fs::metadata(path).map_err(|error| AcpiError::Io { path: path.to_path_buf(), error })?;
    if meta.len() > MAX_BLOB_LEN as u64 {
        return Err(AcpiError::TooLarge { path: path.to_path_buf() });
    }
    std::fs::read(path).map_err(|error| AcpiError::Io { path: path.to_path_buf(), error })
}

/// Counts enabled processors (Local APIC type 0 and x2APIC type 9 entries with the enabled flag)
/// in the MADT ("APIC") found by walking the concatenated tables of `etc/acpi/tables`.
pub fn madt_enabled_cpus(tables: &[u8]) -> Result<usize, AcpiError> {
    let mut offset = 0usize;
    while offset < tables.len() {
        let header = tables.get(offset..offset + 8).ok_or(AcpiError::Madt("truncated table header"))?;
        let length = header
            .get(4..8)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(AcpiError::Madt("truncated table header"))?;
        let length = usize::try_from(length).map_err(|_| AcpiError::Madt("table length"))?;
        if length < 36 {
            // Zero fill after the last table ends the walk.
            if header.iter().all(|&b| b == 0) {
                break;
            }
            return Err(AcpiError::Madt("table shorter than its header"));
        }
        let table = tables.get(offset..offset.saturating_add(length)).ok_or(AcpiError::Madt("table overruns blob"))?;
        if header.get(..4) == Some(b"APIC") {
            let mut count = 0;
            let mut at = 44;
            while at < table.len() {
                let kind = table.get(at).copied().ok_or(AcpiError::Madt("entry"))?;
                let len = usize::from(table.get(at + 1).copied().ok_or(AcpiError::Madt("entry"))?);
                if len < 2 {
                    return Err(AcpiError::Madt("entry length below 2"));
                }
                let entry = table.get(at..at + len).ok_or(AcpiError::Madt("entry overruns table"))?;
                let flags_at = match kind {
                    0 => Some(4),  // Processor Local APIC: uid u8, apic id u8, flags u32
                    9 => Some(8),  // Processor Local x2APIC: reserved u16, x2apic id u32, flags u32
                    _ => None,
                };
                if let Some(flags_at) = flags_at {
                    let flags = entry.get(flags_at).copied().ok_or(AcpiError::Madt("processor entry"))?;
                    if flags & 1 != 0 {
                        count += 1;
                    }
                }
                at += len;
            }
            return Ok(count);
        }
        offset += length;
    }
    Err(AcpiError::Madt("no APIC table"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc_entry(name: &str) -> Vec<u8> {
        let mut e = vec![0u8; 128];
        e[..4].copy_from_slice(&1u32.to_le_bytes());
        e[4..4 + name.len()].copy_from_slice(name.as_bytes());
        e
    }

    #[test]
    fn loader_order_and_validation() {
        let mut loader = alloc_entry("etc/acpi/rsdp");
        loader.extend(alloc_entry("etc/acpi/tables"));
        let mut other = vec![0u8; 128];
        other[0] = 3;
        loader.extend(other);
        loader.extend(vec![0u8; 128]);
        assert_eq!(
            loader_allocations(&loader).ok(),
            Some(vec!["etc/acpi/rsdp".to_string(), "etc/acpi/tables".to_string()])
        );
        assert!(matches!(loader_allocations(&loader[..100]), Err(AcpiError::LoaderLength(100))));
        for bad in ["../x", "/etc", "a//b", "a b"] {
            assert!(matches!(loader_allocations(&alloc_entry(bad)), Err(AcpiError::BadFileName { .. })), "{bad}");
        }
        let mut dup = alloc_entry("a");
        dup.extend(alloc_entry("a"));
        assert!(matches!(loader_allocations(&dup), Err(AcpiError::DuplicateAllocation { entry: 1 })));
        let input = AcpiInput::Blobs {
            loader: loader.clone(),
            blobs: vec![("etc/acpi/tables".into(), b"T".to_vec()), ("etc/acpi/rsdp".into(), b"R".to_vec())],
        };
        let m = input.measurements().unwrap_or_default();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].digest, sha384(&loader));
        assert_eq!(m[1].digest, sha384(b"R"));
        assert_eq!(m[2].digest, sha384(b"T"));
    }

    #[test]
    fn madt_counts_enabled_cpus() {
        let mut dsdt = vec![0u8; 36];
        dsdt[..4].copy_from_slice(b"DSDT");
        dsdt[4..8].copy_from_slice(&36u32.to_le_bytes());
        let mut apic = vec![0u8; 44];
        apic[..4].copy_from_slice(b"APIC");
        for (id, enabled) in [(0u8, 1u8), (1, 1), (2, 0)] {
            apic.extend_from_slice(&[0, 8, id, id, enabled, 0, 0, 0]);
        }
        apic.extend_from_slice(&[1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0]); // IO APIC
        let len = apic.len() as u32;
        apic[4..8].copy_from_slice(&len.to_le_bytes());
        let mut tables = dsdt;
        tables.extend(apic);
        assert_eq!(madt_enabled_cpus(&tables).ok(), Some(2));
        assert!(madt_enabled_cpus(&tables[..50]).is_err());
    }
}
