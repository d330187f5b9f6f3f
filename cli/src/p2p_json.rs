//! near/mpc's JSON form of P2P packets (serde's externally tagged form of near's types, as the
//! oracle prints and reads it: `../shared/oracles/P2P.md` §2.5), to and from our packet types.
//! Host-only: the image never speaks JSON on the P2P wire.

use serde_json::{json, Map, Value};
use tdsigner_p2p::near::packet::*;

fn uid_json(id: UniqueId) -> Value {
    json!({"participant_id": id.participant_id(), "timestamp": id.timestamp(), "counter": id.counter()})
}

fn key_event_json(k: &KeyEventId) -> Value {
    json!({"key_event": {"epoch_id": k.epoch_id, "domain_id": k.domain_id, "attempt_id": k.attempt_id}})
}

fn tagged(tag: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(tag.to_string(), v);
    Value::Object(m)
}

fn task_json(task: &MpcTaskId) -> Value {
    let (family, fields) = match task {
        MpcTaskId::EcdsaTaskId(t) => ("EcdsaTaskId", match t {
            EcdsaTaskId::KeyGeneration { key_event } => ("KeyGeneration", key_event_json(key_event)),
            EcdsaTaskId::KeyResharing { key_event } => ("KeyResharing", key_event_json(key_event)),
            EcdsaTaskId::ManyTriples { start, count } => ("ManyTriples", json!({"start": uid_json(*start), "count": count})),
            EcdsaTaskId::Presignature { id, domain_id, paired_triple_id } => ("Presignature", json!({
                "id": uid_json(*id), "domain_id": domain_id, "paired_triple_id": uid_json(*paired_triple_id)})),
            EcdsaTaskId::Signature { id, presignature_id } => ("Signature", json!({
                "id": hex::encode(id.0), "presignature_id": uid_json(*presignature_id)})),
        }),
        MpcTaskId::EddsaTaskId(t) => ("EddsaTaskId", match t {
            EddsaTaskId::KeyGeneration { key_event } => ("KeyGeneration", key_event_json(key_event)),
            EddsaTaskId::KeyResharing { key_event } => ("KeyResharing", key_event_json(key_event)),
            EddsaTaskId::Signature { id } => ("Signature", json!({"id": hex::encode(id.0)})),
        }),
        MpcTaskId::CkdTaskId(t) => ("CKDTaskId", match t {
            CkdTaskId::KeyGeneration { key_event } => ("KeyGeneration", key_event_json(key_event)),
            CkdTaskId::KeyResharing { key_event } => ("KeyResharing", key_event_json(key_event)),
            CkdTaskId::Ckd { id } => ("Ckd", json!({"id": hex::encode(id.0)})),
        }),
        MpcTaskId::RobustEcdsaTaskId(t) => ("RobustEcdsaTaskId", match t {
            RobustEcdsaTaskId::KeyGeneration { key_event } => ("KeyGeneration", key_event_json(key_event)),
            RobustEcdsaTaskId::KeyResharing { key_event } => ("KeyResharing", key_event_json(key_event)),
            RobustEcdsaTaskId::Presignature { id, domain_id } => ("Presignature", json!({"id": uid_json(*id), "domain_id": domain_id})),
            RobustEcdsaTaskId::Signature { id, presignature_id } => ("Signature", json!({
                "id": hex::encode(id.0), "presignature_id": uid_json(*presignature_id)})),
        }),
        MpcTaskId::VerifyForeignTxTaskId(VerifyForeignTxTaskId::VerifyForeignTx { id, presignature_id }) => (
            "VerifyForeignTxTaskId",
            ("VerifyForeignTx", json!({"id": hex::encode(id.0), "presignature_id": uid_json(*presignature_id)})),
        ),
    };
    let (variant, fields) = fields;
    tagged(family, tagged(variant, fields))
}

/// Our packet in near's JSON form.
pub fn packet_to_json(packet: &Packet) -> Value {
    match packet {
        Packet::Ping => json!("Ping"),
        Packet::IndexerHeight { height } => json!({"IndexerHeight": {"height": height}}),
        Packet::MpcMessage(m) => {
            let kind = match &m.kind {
                MpcMessageKind::Start(s) => json!({"Start": {"task_id": task_json(&s.task_id), "participants": s.participants}}),
                MpcMessageKind::Computation(chunks) => {
                    json!({"Computation": chunks.iter().map(hex::encode).collect::<Vec<_>>()})
                }
                MpcMessageKind::Abort(text) => json!({"Abort": text}),
                MpcMessageKind::Success => json!("Success"),
            };
            json!({"MpcMessage": {"channel_id": uid_json(m.channel_id), "kind": kind}})
        }
    }
}

type R<T> = Result<T, String>;

fn single(v: &Value) -> R<(&str, &Value)> {
    match v.as_object() {
        Some(o) if o.len() == 1 => o.iter().next().map(|(k, v)| (k.as_str(), v)).ok_or_else(|| "empty".into()),
        _ => Err(format!("expected a one-key object, got {v}")),
    }
}

/// Refuses an object with fields other than `keys` (or a missing one), as serde's derived
/// decoders of near's types with `deny_unknown_fields` would not, but as the oracle does: a
/// misspelt field must not silently become a default.
fn only(v: &Value, keys: &[&str]) -> R<()> {
    let o = v.as_object().ok_or_else(|| format!("expected an object with {keys:?}, got {v}"))?;
    if let Some(extra) = o.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(format!("unknown field {extra} (expected {keys:?})"));
    }
    match keys.iter().find(|k| !o.contains_key(**k)) {
        Some(missing) => Err(format!("missing field {missing}")),
        None => Ok(()),
    }
}

fn num(v: &Value, key: &str) -> R<u64> {
    v.get(key).and_then(Value::as_u64).ok_or_else(|| format!("missing number {key}"))
}

fn num32(v: &Value, key: &str) -> R<u32> {
    u32::try_from(num(v, key)?).map_err(|_| format!("{key} over u32"))
}

fn uid(v: &Value, key: &str) -> R<UniqueId> {
    let v = v.get(key).ok_or_else(|| format!("missing {key}"))?;
    only(v, &["participant_id", "timestamp", "counter"])?;
    Ok(UniqueId::new(num32(v, "participant_id")?, num(v, "timestamp")?, num32(v, "counter")?))
}

fn key_event(v: &Value) -> R<KeyEventId> {
    only(v, &["key_event"])?;
    let v = v.get("key_event").ok_or("missing key_event")?;
    only(v, &["epoch_id", "domain_id", "attempt_id"])?;
    Ok(KeyEventId { epoch_id: num(v, "epoch_id")?, domain_id: num(v, "domain_id")?, attempt_id: num(v, "attempt_id")? })
}

fn request_id(v: &Value) -> R<RequestId> {
    let text = v.get("id").and_then(Value::as_str).ok_or("missing id")?;
    let bytes = hex::decode(text).map_err(|e| format!("id: {e}"))?;
    Ok(RequestId(bytes.try_into().map_err(|_| "id must be 32 bytes")?))
}

fn task_from_json(v: &Value) -> R<MpcTaskId> {
    let (family, inner) = single(v)?;
    let (variant, f) = single(inner)?;
    only(f, task_fields(family, variant))?;
    Ok(match (family, variant) {
        ("EcdsaTaskId", "KeyGeneration") => MpcTaskId::EcdsaTaskId(EcdsaTaskId::KeyGeneration { key_event: key_event(f)? }),
        ("EcdsaTaskId", "KeyResharing") => MpcTaskId::EcdsaTaskId(EcdsaTaskId::KeyResharing { key_event: key_event(f)? }),
        ("EcdsaTaskId", "ManyTriples") => {
            MpcTaskId::EcdsaTaskId(EcdsaTaskId::ManyTriples { start: uid(f, "start")?, count: num32(f, "count")? })
        }
        ("EcdsaTaskId", "Presignature") => MpcTaskId::EcdsaTaskId(EcdsaTaskId::Presignature {
            id: uid(f, "id")?,
            domain_id: num(f, "domain_id")?,
            paired_triple_id: uid(f, "paired_triple_id")?,
        }),
        ("EcdsaTaskId", "Signature") => MpcTaskId::EcdsaTaskId(EcdsaTaskId::Signature {
            id: request_id(f)?,
            presignature_id: uid(f, "presignature_id")?,
        }),
        ("EddsaTaskId", "KeyGeneration") => MpcTaskId::EddsaTaskId(EddsaTaskId::KeyGeneration { key_event: key_event(f)? }),
        ("EddsaTaskId", "KeyResharing") => MpcTaskId::EddsaTaskId(EddsaTaskId::KeyResharing { key_event: key_event(f)? }),
        ("EddsaTaskId", "Signature") => MpcTaskId::EddsaTaskId(EddsaTaskId::Signature { id: request_id(f)? }),
        ("CKDTaskId", "KeyGeneration") => MpcTaskId::CkdTaskId(CkdTaskId::KeyGeneration { key_event: key_event(f)? }),
        ("CKDTaskId", "KeyResharing") => MpcTaskId::CkdTaskId(CkdTaskId::KeyResharing { key_event: key_event(f)? }),
        ("CKDTaskId", "Ckd") => MpcTaskId::CkdTaskId(CkdTaskId::Ckd { id: request_id(f)? }),
        ("RobustEcdsaTaskId", "KeyGeneration") => {
            MpcTaskId::RobustEcdsaTaskId(RobustEcdsaTaskId::KeyGeneration { key_event: key_event(f)? })
        }
        ("RobustEcdsaTaskId", "KeyResharing") => {
            MpcTaskId::RobustEcdsaTaskId(RobustEcdsaTaskId::KeyResharing { key_event: key_event(f)? })
        }
        ("RobustEcdsaTaskId", "Presignature") => MpcTaskId::RobustEcdsaTaskId(RobustEcdsaTaskId::Presignature {
            id: uid(f, "id")?,
            domain_id: num(f, "domain_id")?,
        }),
        ("RobustEcdsaTaskId", "Signature") => MpcTaskId::RobustEcdsaTaskId(RobustEcdsaTaskId::Signature {
            id: request_id(f)?,
            presignature_id: uid(f, "presignature_id")?,
        }),
        ("VerifyForeignTxTaskId", "VerifyForeignTx") => {
            MpcTaskId::VerifyForeignTxTaskId(VerifyForeignTxTaskId::VerifyForeignTx {
                id: request_id(f)?,
                presignature_id: uid(f, "presignature_id")?,
            })
        }
        other => return Err(format!("unknown task id {other:?}")),
    })
}

/// The fields of a task id variant; an unknown pair is refused later by name.
fn task_fields(family: &str, variant: &str) -> &'static [&'static str] {
    match (family, variant) {
        (_, "KeyGeneration" | "KeyResharing") => &["key_event"],
        (_, "ManyTriples") => &["start", "count"],
        ("EcdsaTaskId", "Presignature") => &["id", "domain_id", "paired_triple_id"],
        ("RobustEcdsaTaskId", "Presignature") => &["id", "domain_id"],
        ("EcdsaTaskId" | "RobustEcdsaTaskId" | "VerifyForeignTxTaskId", _) => &["id", "presignature_id"],
        _ => &["id"],
    }
}

/// A packet from near's JSON form.
pub fn packet_from_json(v: &Value) -> R<Packet> {
    if v == "Ping" {
        return Ok(Packet::Ping);
    }
    let (tag, inner) = single(v)?;
    match tag {
        "IndexerHeight" => {
            only(inner, &["height"])?;
            Ok(Packet::IndexerHeight { height: num(inner, "height")? })
        }
        "MpcMessage" => {
            only(inner, &["channel_id", "kind"])?;
            let kind = inner.get("kind").ok_or("missing kind")?;
            let kind = if kind == "Success" { MpcMessageKind::Success } else { kind_from_json(kind)? };
            Ok(Packet::MpcMessage(MpcMessage { channel_id: uid(inner, "channel_id")?, kind }))
        }
        other => Err(format!("unknown packet {other}")),
    }
}

fn kind_from_json(kind: &Value) -> R<MpcMessageKind> {
    match single(kind)? {
        ("Start", s) => {
            only(s, &["participants", "task_id"])?;
            let participants = s.get("participants").and_then(Value::as_array).ok_or("missing participants")?;
            let participants = participants
                .iter()
                .map(|p| p.as_u64().and_then(|p| u32::try_from(p).ok()).ok_or("participant id"))
                .collect::<Result<Vec<_>, _>>()?;
            let task_id = task_from_json(s.get("task_id").ok_or("missing task_id")?)?;
            Ok(MpcMessageKind::Start(MpcStartMessage { task_id, participants }))
        }
        ("Computation", c) => {
            let chunks = c.as_array().ok_or("Computation must be a list")?;
            let chunks = chunks
                .iter()
                .map(|h| h.as_str().and_then(|h| hex::decode(h).ok()).ok_or("Computation chunk must be hex"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(MpcMessageKind::Computation(chunks))
        }
        ("Abort", a) => Ok(MpcMessageKind::Abort(a.as_str().ok_or("Abort must be text")?.to_string())),
        other => Err(format!("unknown message kind {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// near's golden packets (`p2p-vectors.json`, written by the oracle from near's own types).
    fn golden_packets() -> Vec<Value> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/oracles/p2p-vectors.json");
        let text = std::fs::read_to_string(path).expect("../shared/oracles/p2p-vectors.json");
        let vectors: Value = serde_json::from_str(&text).expect("vectors parse");
        vectors["packets"].as_array().expect("packets").iter().map(|p| p["json"].clone()).collect()
    }

    #[test]
    fn every_golden_packet_round_trips_through_near_json() {
        let packets = golden_packets();
        assert_eq!(packets.len(), 21);
        for json in packets {
            let packet = packet_from_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(packet_to_json(&packet), json);
        }
    }

    /// Adds `extra` to every object inside `v`, one object at a time, and yields each variant.
    fn with_one_extra_field(v: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        match v {
            Value::Object(o) => {
                let mut extended = o.clone();
                extended.insert("extra".into(), Value::Null);
                out.push(Value::Object(extended));
                for (k, child) in o {
                    for variant in with_one_extra_field(child) {
                        let mut copy = o.clone();
                        copy.insert(k.clone(), variant);
                        out.push(Value::Object(copy));
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    for variant in with_one_extra_field(child) {
                        let mut copy = items.clone();
                        copy[i] = variant;
                        out.push(Value::Array(copy));
                    }
                }
            }
            _ => {}
        }
        out
    }

    #[test]
    fn an_unknown_field_anywhere_is_refused() {
        let mut checked = 0;
        for json in golden_packets() {
            for variant in with_one_extra_field(&json) {
                assert!(packet_from_json(&variant).is_err(), "accepted {variant}");
                checked += 1;
            }
        }
        assert!(checked > 60, "only {checked} variants");
    }

    #[test]
    fn a_missing_field_is_refused_by_name() {
        let json = serde_json::json!({"IndexerHeight": {}});
        assert_eq!(packet_from_json(&json).unwrap_err(), "missing field height");
    }
}
