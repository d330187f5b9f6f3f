//! MapGPA retry protocol against a VMM whose (R10, R11) replies are fuzzed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_tdx::tdvmcall::{map_gpa_protocol, MapGpaError, VmCallError};

fuzz_target!(|data: &[u8]| {
    // First 16 bytes: start page and page count (kept small so a VMM that
    // progresses one page at a time still finishes quickly); the rest: replies.
    if data.len() < 16 {
        return;
    }
    let (head, replies) = data.split_at(16);
    let start = u64::from_le_bytes(head[..8].try_into().unwrap()) & 0x000f_ffff_ffff_f000;
    let len = (u64::from_le_bytes(head[8..].try_into().unwrap()) % 512) * 4096;
    let end = start.wrapping_add(len);
    let mut replies = replies.chunks_exact(9);
    let mut last_start = start;
    let mut calls = 0u32;
    let result = map_gpa_protocol(start, len, |gpa, remaining| {
        calls += 1;
        // Every request stays inside the original range, moves forward only,
        // and asks for exactly what remains.
        assert!(gpa >= last_start && gpa < end);
        assert_eq!(gpa + remaining, end);
        last_start = gpa;
        match replies.next() {
            None => Ok((0, 0)),
            Some(r) => {
                let r11 = u64::from_le_bytes(r[1..].try_into().unwrap());
                match r[0] % 4 {
                    0 => Ok((0, r11)),
                    // Mostly plausible resume addresses, sometimes raw.
                    1 => Ok((1, gpa + (r11 % (remaining / 4096 + 1)) * 4096)),
                    2 => Ok((1, r11)),
                    _ => Err(VmCallError::TdCall(r11)),
                }
            }
        }
    });
    if len == 0 {
        assert_eq!(result, Err(MapGpaError::InvalidRange { gpa: start, len }));
        assert_eq!(calls, 0);
    }
});
