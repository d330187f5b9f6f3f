//! End-to-end: N=4, t=3 nodes on threads, the chain simulator in process, keygen through the
//! contract, sign requests submitted as a user and answered with signatures that verify
//! against the derived keys; then the faults: a lying RPC, a malicious peer, a killed and
//! restarted node, and a resharing that adds a node while requests flow.
//!
//! The scenarios share the machine's 2 cores, so they run one at a time (a mutex).

mod common;

use std::time::Duration;

use common::*;
use tdsigner_chain_sim::HostileMode;
use tdsigner_p2p::Channel;

const N: usize = 4;
const T: u64 = 3;

fn no_tune(_: &mut tdsigner_node::machine::MachineConfig) {}

#[test]
fn keygen_sign_and_refresh() {
    let _g = serial();
    fn tune(c: &mut tdsigner_node::machine::MachineConfig) {
        // A refresh every 60 blocks (18 s).
        c.refresh_interval_blocks = 60;
    }
    let mut c = Cluster::new(sim(300, None), N, tune);
    c.start_with_keygen(N, T, Duration::from_secs(60));
    let root = c.root_key().expect("root key");
    c.create_user();
    let ids: Vec<String> = (0..6).map(|k| c.submit(k)).collect();
    let recs = c.wait_answered(&ids, Duration::from_secs(60));
    for r in &recs {
        Cluster::verify_record(&root, r);
    }
    // The contract's key is every node's key, and each node proves every request itself. A
    // node whose light client lags (a loaded machine) may see the response on chain before it
    // has proven the request, so this waits for it rather than sampling once.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for i in 0..N {
        assert_eq!(c.snapshot(i).status.public_key.as_deref(), Some(root.as_str()));
        for id in &ids {
            let h = tdsigner_near::CryptoHash::from_base58(id).unwrap();
            while !c.snapshot(i).proven_requests.contains(&h) {
                assert!(std::time::Instant::now() < deadline, "node {i} did not prove {id}");
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
    let signed: u64 = (0..N).map(|i| c.snapshot(i).metrics.requests_signed).sum();
    assert!(signed >= ids.len() as u64);
    // Every node acted on contract STATE proven against its light client (the simulator's
    // view_state proofs), not on views.
    for i in 0..N {
        let s = c.snapshot(i);
        assert_eq!(s.status.contract_state_source, "proven", "node {i}");
        assert!(s.metrics.contract_state_proven > 0, "node {i} proved no contract STATE: {:?}", s.status.contract_proof_note);
    }

    // Scheduled refresh: every node switches to a new sharing of the same key.
    let before: Vec<Option<String>> = (0..N).map(|i| c.snapshot(i).status.sharing_id).collect();
    let count: Vec<u64> = (0..N).map(|i| c.snapshot(i).metrics.refreshes_completed).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while (0..N).any(|i| c.snapshot(i).metrics.refreshes_completed == count[i]) {
        assert!(std::time::Instant::now() < deadline, "refresh did not complete");
        std::thread::sleep(Duration::from_millis(250));
    }
    let after: Vec<Option<String>> = (0..N).map(|i| c.snapshot(i).status.sharing_id).collect();
    for i in 0..N {
        assert_ne!(before[i], after[i], "node {i} kept its sharing");
        assert_eq!(c.snapshot(i).status.public_key.as_deref(), Some(root.as_str()));
    }
    // Signing continues with material of the new sharing.
    let ids2: Vec<String> = (6..9).map(|k| c.submit(k)).collect();
    for r in &c.wait_answered(&ids2, Duration::from_secs(60)) {
        Cluster::verify_record(&root, r);
    }
    c.dump("keygen_sign_and_refresh");
}

#[test]
fn lying_rpc_yields_no_signature_for_unproven_requests() {
    let _g = serial();
    // Endpoint 0 lies in every way the simulator knows (fake requests, tampered proofs, altered
    // entropy, forked headers, dropped transactions); endpoint 1 is honest.
    // `withheld-head` is left out (forked headers answer first on the same endpoint); it has
    // its own test below.
    let modes: Vec<HostileMode> = HostileMode::ALL.into_iter().filter(|m| *m != HostileMode::WithheldHead).collect();
    let mut c = Cluster::new(sim(300, Some(modes)), N, no_tune);
    c.start_with_keygen(N, T, Duration::from_secs(60));
    let root = c.root_key().unwrap();
    c.create_user();
    let ids: Vec<String> = (0..4).map(|k| c.submit(k)).collect();
    for r in &c.wait_answered(&ids, Duration::from_secs(60)) {
        Cluster::verify_record(&root, r);
    }
    // Fake candidates are given up once they are `candidate_max_age_blocks` old.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (0..N).any(|i| c.snapshot(i).metrics.requests_unproven == 0) {
        assert!(std::time::Instant::now() < deadline, "fake candidates were never given up");
        std::thread::sleep(Duration::from_millis(250));
    }
    let real: Vec<tdsigner_near::CryptoHash> =
        c.requests().iter().map(|r| tdsigner_near::CryptoHash::from_base58(r["request_id"].as_str().unwrap()).unwrap()).collect();
    for i in 0..N {
        let s = c.snapshot(i);
        // Every request a node proved is one the chain really has.
        for p in &s.proven_requests {
            assert!(real.contains(p), "node {i} proved a request the chain does not have");
        }
        assert!(s.metrics.requests_seen > s.metrics.requests_proven, "node {i} saw no fake candidates");
        assert!(s.metrics.requests_unproven > 0, "node {i} rejected no fake candidate");
        assert!(s.metrics.rpc_rejected > 0, "node {i} rejected no lying answer");
        assert!(s.metrics.light_client_rejected > 0, "node {i} rejected no forked header");
    }
    // The chain saw exactly the user's requests answered (the fakes never existed).
    assert_eq!(c.requests().len(), ids.len());
    c.dump("lying_rpc");
}

#[test]
fn malicious_peer_is_named_and_the_cluster_continues() {
    let _g = serial();
    let mut c = Cluster::new(sim(300, None), N, no_tune);
    // Node 3 corrupts every presignature and signature message it sends (last payload byte):
    // both protocols check each share against its commitments and name the sender.
    for i in 0..N {
        let tamper: Option<tdsigner_node::machine::host::Tamper> = (i == 3).then(|| {
            Box::new(|_to: tdsigner_p2p::ParticipantId, ch: Channel, bytes: &mut Vec<u8>| {
                if ch == Channel::SIGN || ch == Channel::PRESIGN {
                    if let Some(b) = bytes.last_mut() {
                        *b ^= 0x01;
                    }
                }
            }) as tdsigner_node::machine::host::Tamper
        });
        c.start_node(i, tamper);
        c.register_account(i);
    }
    c.init_and_add_domain(N, T);
    c.wait_running(&[0, 1, 2, 3], Duration::from_secs(60));
    let root = c.root_key().unwrap();
    c.create_user();
    let ids: Vec<String> = (0..8).map(|k| c.submit(k)).collect();
    for r in &c.wait_answered(&ids, Duration::from_secs(90)) {
        Cluster::verify_record(&root, r);
    }
    c.dump("malicious_peer");
    // Some honest coordinator named node 3, and nobody named an honest node.
    let blamed3: u64 = (0..3).map(|i| c.snapshot(i).metrics.aborts_blaming("3")).sum();
    assert!(blamed3 > 0, "no abort named the malicious node");
    for i in 0..N {
        for h in 0..3 {
            assert_eq!(c.snapshot(i).metrics.aborts_blaming(&h.to_string()), 0, "node {i} blamed honest node {h}");
        }
    }
}

#[test]
fn killed_node_restarts_from_its_store_and_rejoins() {
    let _g = serial();
    let mut c = Cluster::new(sim(300, None), N, no_tune);
    c.start_with_keygen(N, T, Duration::from_secs(60));
    let root = c.root_key().unwrap();
    c.create_user();
    let ids: Vec<String> = (0..3).map(|k| c.submit(k)).collect();
    c.wait_answered(&ids, Duration::from_secs(60));
    let sharing_before = c.snapshot(2).status.sharing_id.clone();

    // Kill node 2: the remaining 3 (= t) keep signing.
    c.stop_node(2);
    let ids2: Vec<String> = (3..6).map(|k| c.submit(k)).collect();
    for r in &c.wait_answered(&ids2, Duration::from_secs(90)) {
        Cluster::verify_record(&root, r);
    }

    // Restart it: same disk, same address. It reopens its sealed store (same identity, same
    // key share, no new keygen) and takes part again.
    c.start_node(2, None);
    c.wait_running(&[0, 1, 2, 3], Duration::from_secs(30));
    let s = c.snapshot(2);
    assert_eq!(s.status.sharing_id, sharing_before, "restarted node lost its share");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while c.snapshot(2).metrics.protocols_completed.values().sum::<u64>() == 0 {
        assert!(std::time::Instant::now() < deadline, "restarted node completed no protocol run");
        std::thread::sleep(Duration::from_millis(250));
    }
    let ids3: Vec<String> = (6..10).map(|k| c.submit(k)).collect();
    for r in &c.wait_answered(&ids3, Duration::from_secs(90)) {
        Cluster::verify_record(&root, r);
    }
    c.dump("restart");
}

#[test]
fn reshare_adds_a_node_while_requests_flow() {
    let _g = serial();
    let mut c = Cluster::new(sim(300, None), N + 1, no_tune);
    c.start_with_keygen(N, T, Duration::from_secs(60));
    let root = c.root_key().unwrap();
    c.create_user();
    // The new node boots and registers; then the contract starts resharing to 5 nodes.
    c.start_node(N, None);
    c.register_account(N);
    let ids: Vec<String> = (0..3).map(|k| c.submit(k)).collect();
    c.vote_new_parameters(N + 1, T);
    let ids2: Vec<String> = (3..6).map(|k| c.submit(k)).collect();
    c.wait_running(&[0, 1, 2, 3, 4], Duration::from_secs(90));
    assert_eq!(c.root_key().as_deref(), Some(root.as_str()), "resharing changed the key");
    let mut all = ids.clone();
    all.extend(ids2);
    for r in &c.wait_answered(&all, Duration::from_secs(90)) {
        Cluster::verify_record(&root, r);
    }
    // After the resharing the new node signs too.
    let ids3: Vec<String> = (6..12).map(|k| c.submit(k)).collect();
    for r in &c.wait_answered(&ids3, Duration::from_secs(90)) {
        Cluster::verify_record(&root, r);
    }
    c.dump("reshare");
    let new_node = c.snapshot(N);
    assert!(new_node.metrics.protocols_completed.get("reshare").copied().unwrap_or(0) >= 1);
    assert!(new_node.metrics.protocols_completed.get("sign").copied().unwrap_or(0) >= 1, "the new node took part in no signature");
    assert_eq!(new_node.status.key_epoch, Some(1));
}

/// Endpoint 0 (asked first) always says "nothing newer": the node's light client still
/// follows the chain through endpoint 1.
#[test]
fn a_withholding_endpoint_does_not_stall_the_light_client() {
    let _g = serial();
    let mut c = Cluster::new(sim(300, Some(vec![HostileMode::WithheldHead])), 1, no_tune);
    let start = c.trusted.head_height();
    c.start_node(0, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let height = c.snapshot(0).status.light_client_height;
        if height >= start + 40 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "light client stuck at {height} (started at {start})");
        std::thread::sleep(Duration::from_millis(200));
    }
}
