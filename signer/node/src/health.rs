//! The `GET /health` document.
//!
//! Fields: `version`, `platform` (`"tdx"` or `"emulated"`), `attestation`
//! (`"tdx"` or `"emulated"`, so no reader can mistake an emulated node for an
//! attested one), `uptime_ms`, `boot_count`.

use alloc::vec::Vec;

/// What the platform backend is, as reported everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformKind {
    /// A real Intel TDX trust domain.
    Tdx,
    /// Software emulation of the TDX interfaces (CI, development). Nothing
    /// it reports is attested by hardware.
    Emulated,
}

impl PlatformKind {
    /// The lower-case name used in every output.
    pub fn name(self) -> &'static str {
        match self {
            PlatformKind::Tdx => "tdx",
            PlatformKind::Emulated => "emulated",
        }
    }
}

/// Inputs of the health document.
#[derive(Clone, Copy, Debug)]
pub struct Health {
    /// Platform backend.
    pub platform: PlatformKind,
    /// A DEBUG TD (the host can read and change its memory).
    pub debug_td: bool,
    /// Milliseconds since the image started.
    pub uptime_ms: u64,
    /// Boot counter read from (and incremented on) the disk.
    pub boot_count: u64,
}

impl Health {
    /// The JSON body. Every value is a number or a fixed string, so no
    /// escaping is needed.
    pub fn to_json(&self) -> Vec<u8> {
        use core::fmt::Write;
        let mut s = alloc::string::String::new();
        let _ = write!(
            s,
            "{{\"version\":\"{}\",\"platform\":\"{}\",\"attestation\":\"{}\",\"debug_td\":{},\"uptime_ms\":{},\"boot_count\":{}}}",
            crate::VERSION,
            self.platform.name(),
            self.platform.name(),
            self.debug_td,
            self.uptime_ms,
            self.boot_count
        );
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let h = Health { platform: PlatformKind::Emulated, debug_td: false, uptime_ms: 1234, boot_count: 7 };
        let json = alloc::string::String::from_utf8(h.to_json()).unwrap();
        assert_eq!(
            json,
            alloc::format!(
                "{{\"version\":\"{}\",\"platform\":\"emulated\",\"attestation\":\"emulated\",\"debug_td\":false,\"uptime_ms\":1234,\"boot_count\":7}}",
                crate::VERSION
            )
        );
        let debug = Health { platform: PlatformKind::Tdx, debug_td: true, uptime_ms: 1, boot_count: 1 };
        let json = alloc::string::String::from_utf8(debug.to_json()).unwrap();
        assert!(json.contains("\"platform\":\"tdx\",\"attestation\":\"tdx\",\"debug_td\":true,"), "{json}");
    }
}
