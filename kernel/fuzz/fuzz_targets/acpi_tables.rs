//! ACPI tables come from the host's firmware: finding the PM timer never panics, whatever
//! the bytes at the RSDP, the root table and the FADT.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_kernel::acpi_pm::{find_pm_timer, pm_timer_from_fadt};

fuzz_target!(|data: &[u8]| {
    let _ = pm_timer_from_fadt(data);
    // The input is the whole of "physical memory" from address 0: the RSDP at 0, and every
    // pointer in it resolved inside the input (or unreadable).
    let mut read = |addr: u64, buf: &mut [u8]| -> bool {
        let Ok(start) = usize::try_from(addr) else { return false };
        match data.get(start..start.saturating_add(buf.len())) {
            Some(src) if src.len() == buf.len() => {
                buf.copy_from_slice(src);
                true
            }
            _ => false,
        }
    };
    let _ = find_pm_timer(&mut read, 0);
});
