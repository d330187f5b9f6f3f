//! Intel's SGX extension in a PCK certificate (OID 1.2.840.113741.1.13.1): the
//! platform's FMSPC, PCE id and TCB (CPUSVN, PCESVN) that select its TCB level.
//! The extension value is `SEQUENCE OF SEQUENCE { OID, value }`, the TCB entry
//! nesting one more such list.

use super::tlv::{self, Tlv};
use super::DcapError;

/// The SGX extension's OID.
pub const SGX_EXTENSION_OID: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1");
/// DER contents of that OID; sub-entries append one arc.
const SGX_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01];
const ARC_TCB: u8 = 2;
const ARC_PCEID: u8 = 3;
const ARC_FMSPC: u8 = 4;
const ARC_PCESVN: u8 = 17;
const ARC_CPUSVN: u8 = 18;

/// What the TCB level match needs from a PCK certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PckPlatform {
    pub fmspc: [u8; 6],
    pub pce_id: [u8; 2],
    pub cpu_svn: [u8; 16],
    pub pce_svn: u16,
}

fn bad(reason: &'static str) -> DcapError {
    DcapError::PckExtension(reason)
}

/// Finds `prefix ‖ arc` in a list of `SEQUENCE { OID, value }` and returns the value.
fn entry<'a>(list: &'a [u8], prefix: &[u8], arc: u8) -> Result<Tlv<'a>, DcapError> {
    for item in tlv::children(list) {
        let item = item.ok_or(bad("malformed entry list"))?;
        if item.tag != tlv::TAG_SEQUENCE {
            return Err(bad("entry is not a SEQUENCE"));
        }
        let mut parts = tlv::children(item.value);
        let oid = parts.next().flatten().ok_or(bad("entry without OID"))?;
        let value = parts.next().flatten().ok_or(bad("entry without value"))?;
        if parts.next().is_some() || oid.tag != tlv::TAG_OID {
            return Err(bad("entry is not { OID, value }"));
        }
        if oid.value.len() == prefix.len() + 1 && oid.value.starts_with(prefix) && oid.value.last() == Some(&arc) {
            return Ok(value);
        }
    }
    Err(bad("a required entry is missing"))
}

fn octets<const N: usize>(value: Tlv<'_>, what: &'static str) -> Result<[u8; N], DcapError> {
    if value.tag != tlv::TAG_OCTET_STRING {
        return Err(bad(what));
    }
    value.value.try_into().map_err(|_| bad(what))
}

/// Decodes the SGX extension's value (the bytes inside the extension's OCTET STRING).
pub fn parse_sgx_extension(value: &[u8]) -> Result<PckPlatform, DcapError> {
    let outer = tlv::read_all(value).ok_or(bad("not one DER element"))?;
    if outer.tag != tlv::TAG_SEQUENCE {
        return Err(bad("not a SEQUENCE"));
    }
    let fmspc = octets::<6>(entry(outer.value, &SGX_OID, ARC_FMSPC)?, "FMSPC is not 6 octets")?;
    let pce_id = octets::<2>(entry(outer.value, &SGX_OID, ARC_PCEID)?, "PCEID is not 2 octets")?;
    let tcb = entry(outer.value, &SGX_OID, ARC_TCB)?;
    if tcb.tag != tlv::TAG_SEQUENCE {
        return Err(bad("TCB is not a SEQUENCE"));
    }
    let mut tcb_oid = [0u8; 10];
    tcb_oid[..9].copy_from_slice(&SGX_OID);
    tcb_oid[9] = ARC_TCB;
    let cpu_svn = octets::<16>(entry(tcb.value, &tcb_oid, ARC_CPUSVN)?, "CPUSVN is not 16 octets")?;
    let pce = entry(tcb.value, &tcb_oid, ARC_PCESVN)?;
    if pce.tag != tlv::TAG_INTEGER {
        return Err(bad("PCESVN is not an INTEGER"));
    }
    let pce_svn = tlv::small_unsigned(pce.value).ok_or(bad("PCESVN out of range"))?;
    // The 16 component SVNs are also listed one by one; they must agree with CPUSVN,
    // or the two halves of the certificate would describe different platforms.
    for (i, expected) in cpu_svn.iter().enumerate() {
        let arc = u8::try_from(i + 1).map_err(|_| bad("component index"))?;
        let comp = entry(tcb.value, &tcb_oid, arc)?;
        if comp.tag != tlv::TAG_INTEGER || tlv::small_unsigned(comp.value) != Some(u16::from(*expected)) {
            return Err(bad("a TCB component SVN disagrees with CPUSVN"));
        }
    }
    Ok(PckPlatform { fmspc, pce_id, cpu_svn, pce_svn })
}
