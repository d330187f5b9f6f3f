//! #VE emulation with fuzzed #VE info, registers and VMM answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdsigner_tdx::tdvmcall::{CpuidValues, IoWidth, VmCallError};
use tdsigner_tdx::ve::{emulate_ve, VmmCalls};
use tdsigner_tdx::{VeInfo, VeTrapFrame};

struct FuzzVmm<'a> {
    bytes: core::slice::Iter<'a, u8>,
    calls: u32,
}

impl FuzzVmm<'_> {
    fn word(&mut self) -> Result<u64, VmCallError> {
        self.calls += 1;
        let mut w = [0u8; 8];
        for b in &mut w {
            *b = self.bytes.next().copied().unwrap_or(0);
        }
        let v = u64::from_le_bytes(w);
        if v % 7 == 3 {
            Err(VmCallError::Unknown(v))
        } else {
            Ok(v)
        }
    }
}

impl VmmCalls for FuzzVmm<'_> {
    fn cpuid(&mut self, _: u32, _: u32) -> Result<CpuidValues, VmCallError> {
        let a = self.word()?;
        let b = self.word()?;
        Ok(CpuidValues {
            eax: a as u32,
            ebx: (a >> 32) as u32,
            ecx: b as u32,
            edx: (b >> 32) as u32,
        })
    }
    fn rdmsr(&mut self, _: u32) -> Result<u64, VmCallError> {
        self.word()
    }
    fn wrmsr(&mut self, _: u32, _: u64) -> Result<(), VmCallError> {
        self.word().map(|_| ())
    }
    fn io_read(&mut self, width: IoWidth, _: u16) -> Result<u32, VmCallError> {
        // The real Ghci masks to the width; a model may not: the emulator
        // must mask anyway.
        self.word().map(|v| {
            v as u32
                | if width == IoWidth::U32 {
                    0
                } else {
                    0xdead_0000
                }
        })
    }
    fn io_write(&mut self, _: IoWidth, _: u16, _: u32) -> Result<(), VmCallError> {
        self.word().map(|_| ())
    }
    fn halt(&mut self, _: bool) -> Result<(), VmCallError> {
        self.word().map(|_| ())
    }
}

fn u64_at(d: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(d[i * 8..i * 8 + 8].try_into().unwrap())
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 * 8 {
        return;
    }
    let (head, rest) = data.split_at(64);
    let ve = VeInfo {
        exit_reason: match head[0] % 8 {
            0 => 10,
            1 => 12,
            2 => 30,
            3 => 31,
            4 => 32,
            5 => 48,
            _ => u64_at(head, 0) as u32 >> 8,
        },
        exit_qualification: u64_at(head, 1),
        guest_linear_address: u64_at(head, 2),
        guest_physical_address: u64_at(head, 3),
        instruction_length: (u64_at(head, 4) % 20) as u32,
        instruction_info: 0,
    };
    let before = VeTrapFrame {
        rax: u64_at(head, 5),
        rcx: u64_at(head, 6),
        rdx: u64_at(head, 7),
        rbx: 0x5555,
        rip: 0x1000,
        rflags: u64_at(head, 4) & 0x200,
        ..VeTrapFrame::default()
    };
    let mut frame = before;
    let mut vmm = FuzzVmm {
        bytes: rest.iter(),
        calls: 0,
    };
    match emulate_ve(&mut frame, &ve, &mut vmm) {
        Ok(()) => {
            let advanced = frame.rip - before.rip;
            assert_eq!(advanced, u64::from(ve.instruction_length));
            assert!((1..=15).contains(&advanced));
            // Registers the emulated instruction never writes are untouched.
            assert_eq!(
                (frame.rsp, frame.rbp, frame.rsi, frame.rdi),
                (before.rsp, before.rbp, before.rsi, before.rdi)
            );
            if ve.exit_reason == 30 {
                let width_mask = match ve.exit_qualification & 7 {
                    0 => 0xff,
                    1 => 0xffff,
                    _ => 0xffff_ffff,
                };
                if ve.exit_qualification & 8 != 0 {
                    // IN: bits above the width are preserved (8/16) or zero (32).
                    if width_mask == 0xffff_ffff {
                        assert_eq!(frame.rax >> 32, 0);
                    } else {
                        assert_eq!(frame.rax & !width_mask, before.rax & !width_mask);
                    }
                } else {
                    assert_eq!(frame.rax, before.rax);
                }
            }
        }
        Err(_) => assert_eq!(frame.rip, before.rip),
    }
});
