//! The PostgreSQL store (#16, first part): the guarantees of the SQLite store on a shared
//! database, two nodes on it, and a database restart under a stream of changes.
//! Each test starts its own throwaway cluster (`tests/common/postgres.rs`).

mod common;
#[path = "common/postgres.rs"]
mod postgres;

use chorus_store::{ConferenceRecord, PgStore, Store, StoreError};
use common::{Bridge, http, scratch};
use postgres::Postgres;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn set_max(store: &dyn Store, extension: &str, max: u32) {
    store
        .update_conference(
            extension,
            Box::new(move |current, _| {
                Ok(ConferenceRecord {
                    max_members: Some(max),
                    ..current.unwrap_or_default()
                })
            }),
        )
        .expect("update");
}

#[test]
fn the_postgres_store_keeps_the_embedded_stores_guarantees_across_two_nodes() {
    let dir = scratch("pg-store");
    let pg = Postgres::start(&dir, 55431);
    // Two nodes open the same database at once: the schema is made once.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| PgStore::open(&pg.url(), &dir.join("cache-a")));
        let b = s.spawn(|| PgStore::open(&pg.url(), &dir.join("cache-b")));
        (a.join().expect("a"), b.join().expect("b"))
    });
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) =
        (Arc::new(a.expect("node a")), Arc::new(b.expect("node b")));

    // A change on one node is what the other reads.
    set_max(a.as_ref(), "500", 10);
    let record = b.conference("500").expect("read").expect("present");
    assert_eq!(record.max_members, Some(10));

    // A refused change writes nothing.
    let refused = b.update_conference(
        "500",
        Box::new(|_, _| Err("max_members: must be between 1 and 100".into())),
    );
    assert!(matches!(refused, Err(StoreError::Rejected(_))));
    assert_eq!(
        a.conference("500")
            .expect("read")
            .expect("kept")
            .max_members,
        Some(10)
    );

    // Read-modify-write from both nodes, 8 threads each: every increment counts, so the
    // updates of one extension serialised.
    set_max(a.as_ref(), "600", 0);
    std::thread::scope(|s| {
        for store in [&a, &b].iter().flat_map(|st| std::iter::repeat_n(*st, 8)) {
            s.spawn(move || {
                for _ in 0..10 {
                    store
                        .update_conference(
                            "600",
                            Box::new(|current, _| {
                                let current = current.unwrap_or_default();
                                Ok(ConferenceRecord {
                                    max_members: Some(current.max_members.unwrap_or(0) + 1),
                                    ..current
                                })
                            }),
                        )
                        .expect("increment");
                }
            });
        }
    });
    assert_eq!(
        b.conference("600")
            .expect("read")
            .expect("present")
            .max_members,
        Some(160)
    );

    // Sounds live in the database: added on one node, played by the other (and cached
    // there on disk), refused deletion while in use, gone everywhere after.
    let pcm: Vec<i16> = (0..8000).map(|i| (i % 200) as i16 * 50).collect();
    let sound = a.add_sound("chime", &pcm).expect("add");
    assert_eq!(b.sound_pcm(sound.id).expect("pcm"), Some(pcm.clone()));
    assert!(dir.join(format!("cache-b/{}.pcm", sound.id)).exists());
    assert_eq!(b.sound_pcm(sound.id).expect("cached"), Some(pcm));
    b.update_conference(
        "500",
        Box::new(move |current, exists| {
            assert!(exists(sound.id) && !exists(sound.id + 1));
            Ok(ConferenceRecord {
                enter_sound: Some(sound.id),
                ..current.unwrap_or_default()
            })
        }),
    )
    .expect("use it");
    match a.delete_sound(sound.id) {
        Err(StoreError::Rejected(why)) => assert!(why.contains("500"), "{why}"),
        other => panic!("deleting a sound in use: {other:?}"),
    }
    assert!(a.delete_conference("500").expect("delete"));
    assert!(a.delete_sound(sound.id).expect("delete sound"));
    assert_eq!(b.sound_pcm(sound.id).expect("gone"), None);
    assert!(!dir.join(format!("cache-b/{}.pcm", sound.id)).exists());
    assert_eq!(b.conferences().expect("list").len(), 1);
}

#[test]
fn bridges_share_settings_in_postgres_and_a_database_restart_loses_no_acknowledged_change() {
    let dir = scratch("pg-bridges");
    let pg = Postgres::start(&dir, 55432);
    let url = pg.url();
    let args = ["--database", url.as_str()];
    for node in ["a", "b"] {
        std::fs::create_dir_all(dir.join(node)).expect("node dir");
    }
    let node_a = Bridge::start(&dir.join("a"), 6610, (27800, 27849), None, &args);
    let node_b = Bridge::start(&dir.join("b"), 6620, (27850, 27899), None, &args);
    // The URL is a secret like any other: it stays out of the log.
    assert!(!node_a.log_text().contains(&url));

    let path = "/extension/700/conference/";
    let (status, _) = http(node_a.http_port(), "PUT", path, r#"{"pin": "100000"}"#);
    assert!(status == 200 || status == 201, "{status}");
    let (_, seen) = http(node_b.http_port(), "GET", path, "");
    assert_eq!(seen["pin"], "100000", "node b reads node a's change");

    // Node b's calls follow node a's changes: pushed (LISTEN/NOTIFY), each within a
    // second. 100 changes, one at a time, each timed from its request on node a to node
    // b's engine having the settings.
    let reloads = |node: &Bridge| {
        node.log_text()
            .matches("settings reloaded from the shared store")
            .count()
    };
    // Each node reloads once when its watcher connects: that one is not a change.
    assert!(common::wait_until(Duration::from_secs(10), || reloads(
        &node_b
    ) >= 1));
    let mut delays = Vec::new();
    for i in 0..100u32 {
        let before = reloads(&node_b);
        let body = format!(r#"{{"max_members": {}}}"#, 10 + i);
        // Timed from the request: node b may have the change before node a answers.
        let acknowledged = Instant::now();
        let (status, _) = http(node_a.http_port(), "PUT", path, &body);
        assert_eq!(status, 200);
        // Polled every 5 ms, so the figure is not the poll's.
        while reloads(&node_b) <= before {
            assert!(
                acknowledged.elapsed() < Duration::from_secs(1),
                "change {i} did not reach node b within 1 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        delays.push(acknowledged.elapsed());
    }
    delays.sort();
    eprintln!(
        "a change on node a reached node b's calls in p50 {:?}, p99 {:?}",
        delays[49], delays[98]
    );

    // A stream of PINs from one client while the database restarts: every PUT either is
    // acknowledged (2xx) or fails; the last acknowledged one is what both nodes read.
    let port = node_a.http_port();
    let writer = std::thread::spawn(move || {
        let mut acknowledged = None;
        let mut failed = 0;
        for i in 0..300u32 {
            let pin = format!("{}", 200_000 + i);
            let (status, _) = http(port, "PUT", path, &format!(r#"{{"pin": "{pin}"}}"#));
            if (200..300).contains(&status) {
                acknowledged = Some(pin);
            } else {
                failed += 1;
            }
        }
        (acknowledged, failed)
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    pg.restart();
    let (acknowledged, failed) = writer.join().expect("writer");
    eprintln!("PUTs refused while the database restarted: {failed}");
    let acknowledged = acknowledged.expect("PUTs succeed after the restart");
    for node in [&node_a, &node_b] {
        let (status, seen) = http(node.http_port(), "GET", path, "");
        assert_eq!(status, 200);
        assert_eq!(seen["pin"], acknowledged.as_str());
    }
    // PINs are secrets: none reached either log.
    let log = node_a.log_text() + &node_b.log_text();
    assert!(!log.contains(&acknowledged) && !log.contains("100000"));
}
