//! `tdsigner p2p endpoint` against near/mpc's own P2P endpoint (`../shared/oracles`):
//! near's conformance script with our endpoint as the implementation under test, and every
//! golden packet through both processes, checked on our side as decoded JSON. Every process
//! is killed on any exit (guards); every wait is bounded.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);
const ORACLE_SEED: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const OUR_SEED: &str = "0202020202020202020202020202020202020202020202020202020202020202";

fn shared(path: &str) -> String {
    format!("{}/../../shared/oracles/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Value>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn start(cmd: &mut Command) -> Proc {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Proc { stdin: child.stdin.take(), child, events }
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(v) if pred(&v) => return v,
                Ok(v) => assert!(v["event"] != "bad_packet", "undecodable packet: {v}"),
                Err(_) => panic!("no {what} within {WAIT:?}"),
            }
        }
    }

    fn command(&mut self, v: Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    }
}

fn pubkey(seed: &str) -> String {
    let out = Command::new(shared("mpc-p2p-oracle")).args(["pubkey", "--key", seed]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn nears_conformance_script_passes_against_our_endpoint() {
    let ours = env!("CARGO_BIN_EXE_tdsigner");
    let iut = format!("{ours} p2p endpoint --key {{key}} --me {{me}} --listen {{listen}} --peers {{peers}}");
    let mut script = Command::new("python3");
    script.arg(shared("p2p_conformance.py")).args(["--oracle", &shared("mpc-p2p-oracle")]);
    script.args(["--vectors", &shared("p2p-vectors.json"), "--iut-key", OUR_SEED]);
    script.args(["--iut-listen", &format!("127.0.0.1:{}", free_port())]);
    script.args(["--oracle-listen", &format!("127.0.0.1:{}", free_port()), "--iut-cmd", &iut]);
    let run = Proc::start(&mut script);
    let summary = run.wait_for("the script's summary", |v| v.as_str().is_some_and(|l| l.ends_with(" failed")));
    let line = summary.as_str().unwrap();
    assert!(line.ends_with(", 0 failed") && !line.starts_with("0 passed"), "{line}");
}

#[test]
fn every_golden_packet_both_ways_through_both_processes() {
    let (oracle_port, our_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("tdsigner-p2p-endpoint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let peers = dir.join("peers.json");
    let list = json!([
        {"id": 0, "address": format!("127.0.0.1:{oracle_port}"), "tls_public_key": pubkey(ORACLE_SEED)},
        {"id": 1, "address": "127.0.0.1", "port": our_port, "tls_public_key": pubkey(OUR_SEED)},
    ]);
    std::fs::write(&peers, list.to_string()).unwrap();
    let mut oracle = Proc::start(Command::new(shared("mpc-p2p-oracle")).args(["--key", ORACLE_SEED, "--me", "0"])
        .args(["--listen", &format!("127.0.0.1:{oracle_port}"), "--peers"]).arg(&peers));
    let mut us = Proc::start(Command::new(env!("CARGO_BIN_EXE_tdsigner")).args(["p2p", "endpoint", "--key", OUR_SEED, "--me", "1"])
        .args(["--listen", &format!("127.0.0.1:{our_port}"), "--peers"]).arg(&peers));
    us.wait_for("our dial accepted", |v| v["event"] == "connected" && v["direction"] == "out");
    us.wait_for("near's dial accepted", |v| v["event"] == "connected" && v["direction"] == "in");
    oracle.wait_for("both connections", |v| v["event"] == "connected" && v["direction"] == "out");

    let vectors: Value = serde_json::from_str(&std::fs::read_to_string(shared("p2p-vectors.json")).unwrap()).unwrap();
    for p in vectors["packets"].as_array().unwrap() {
        // near -> us: we decode near's bytes to near's JSON.
        oracle.command(json!({"send": {"peer": 1, "packet": p["json"]}}));
        let got = us.wait_for(p["name"].as_str().unwrap(), |v| v["event"] == "packet" && v["payload_hex"] == p["payload_hex"]);
        assert_eq!(got["packet"], p["json"], "{}", p["name"]);
        // us -> near: near decodes our bytes to the same payload.
        us.command(json!({"send": {"peer": 0, "packet": p["json"]}}));
        let got = oracle.wait_for(p["name"].as_str().unwrap(), |v| v["event"] == "packet" && v["payload_hex"] == p["payload_hex"]);
        assert_eq!(got["packet"], p["json"], "{}", p["name"]);
    }
    // A payload near cannot decode makes us drop the connection, as near does.
    oracle.command(json!({"send_raw": {"peer": 1, "payload_hex": "07"}}));
    us.wait_for("bad packet", |v| v["event"] == "bad_packet");
    us.wait_for("closed", |v| v["event"] == "closed" && v["direction"] == "in");
    // near redials with the next connection id, and we accept it.
    let again = us.wait_for("redial", |v| v["event"] == "connected" && v["direction"] == "in");
    assert_eq!(again["handshake"]["Jan2026"]["sender_connection_id"], 1, "{again}");
    us.command(json!({"quit": true}));
    let _ = std::fs::remove_dir_all(&dir);
}
