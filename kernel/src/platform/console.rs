//! The serial console: COM1 (I/O port 0x3F8), 115200 8N1.
//!
//! All port access goes through the platform backend, so under TDX it is an
//! explicit TDVMCALL rather than a #VE. Output only; the console never reads
//! input. Secrets must never reach it.

use core::fmt::{self, Write};

use spin::Mutex;

use crate::platform;

const COM1: u16 = 0x3f8;
const LSR_THR_EMPTY: u8 = 0x20;
/// How long to wait for the transmitter before writing anyway; a host that
/// never drains the UART must not hang the guest.
const THR_SPIN_LIMIT: u32 = 100_000;

static LOCK: Mutex<()> = Mutex::new(());

/// Programs the UART. Needs the platform (port I/O) to be initialised.
pub fn init() {
    let p = platform::get();
    p.io_write8(COM1 + 1, 0x00); // no interrupts
    p.io_write8(COM1 + 3, 0x80); // DLAB
    p.io_write8(COM1, 0x01); // divisor 1 = 115200 baud
    p.io_write8(COM1 + 1, 0x00);
    p.io_write8(COM1 + 3, 0x03); // 8N1, DLAB off
    p.io_write8(COM1 + 2, 0xc7); // FIFO on, cleared, 14-byte threshold
    p.io_write8(COM1 + 4, 0x03); // DTR + RTS
}

fn write_byte(byte: u8) {
    let p = platform::get();
    let mut spins = 0;
    while p.io_read8(COM1 + 5) & LSR_THR_EMPTY == 0 && spins < THR_SPIN_LIMIT {
        spins += 1;
        core::hint::spin_loop();
    }
    p.io_write8(COM1, byte);
}

struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                write_byte(b'\r');
            }
            write_byte(b);
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let _guard = LOCK.lock();
    let _ = Serial.write_fmt(args);
}

/// Printing from a fatal path: the normal lock may be held by the code that
/// faulted, so this path does not take it.
pub fn print_fatal(args: fmt::Arguments) {
    if platform::try_get().is_some() {
        let _ = Serial.write_fmt(args);
    }
}

/// Prints a line on the serial console.
macro_rules! kprintln {
    () => { $crate::platform::console::_print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::platform::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
