//! The CCEL table and the log area it points to come from the host's firmware: finding and
//! reading the firmware's event log never panics and never reads outside what `read` allows,
//! whatever the bytes at the RSDP, the root table, the CCEL table and LASA.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_kernel::ccel::{parse_ccel_table, read_firmware_log};

fuzz_target!(|data: &[u8]| {
    let _ = parse_ccel_table(data);
    // The input is the whole of "physical memory" from address 0: the RSDP at 0, every pointer
    // (tables, LASA) resolved inside the input or unreadable.
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
    let _ = read_firmware_log(&mut read, 0);
});
