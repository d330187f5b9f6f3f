//! The one way any layer ends the guest: a line on the console, then on TDX
//! TDVMCALL<ReportFatalError> (firmware runtime services are not to be relied
//! on after ExitBootServices there), otherwise a power-off. It lives in the
//! lowest layer so that CPU tables, drivers and the network can report a
//! fatal error without reaching up into the program.

use core::fmt;

/// Prints `tdsigner: fatal: <reason>` and ends the guest: on TDX through
/// TDVMCALL<ReportFatalError> (firmware runtime services are not to be relied
/// on after ExitBootServices there), otherwise by powering off.
pub fn fatal(args: fmt::Arguments) -> ! {
    crate::platform::console::print_fatal(format_args!("tdsigner: fatal: {args}\n"));
    if tdsigner_tdx::is_td() {
        let mut message = tdsigner_kernel::fixed_text::FixedText::<64>::new();
        let _ = fmt::Write::write_fmt(&mut message, format_args!("tdsigner: {args}"));
        tdsigner_tdx::tdvmcall::report_fatal_error(message.as_str());
    }
    power_off()
}

/// Asks the firmware's runtime services to power off; if that returns, halts
/// with interrupts disabled forever.
pub fn power_off() -> ! {
    uefi::runtime::reset(uefi::runtime::ResetType::SHUTDOWN, uefi::Status::ABORTED, None)
}
