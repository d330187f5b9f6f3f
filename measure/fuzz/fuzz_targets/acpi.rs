//! QEMU ACPI linker/loader scripts and MADT walking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tdsigner_measure::acpi::{loader_allocations, madt_enabled_cpus};

fuzz_target!(|data: &[u8]| {
    let _ = loader_allocations(data);
    let _ = madt_enabled_cpus(data);
});
