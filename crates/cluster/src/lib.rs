//! Several Chorus nodes on one PostgreSQL (`--database postgres://…`): the edge that
//! makes them one bridge. Never linked into the sans-IO cores.
//!
//! - **Heartbeat and placement.** Every second, and at once when a call starts or ends,
//!   a node writes its row in `chorus_node` (name, SIP URI, REST URL, draining, a
//!   heartbeat on the database's clock) and one row per conference it hosts in
//!   `chorus_placement`, whose primary key is the conference: two nodes can never both
//!   hold one. A row of a node silent for [`LIVENESS`] may be taken over. The front door
//!   (Kamailio, `deploy/kamailio/`) reads `chorus_live_placement` to send a caller to the
//!   node that hosts the conference, and places a conference that lives nowhere by hash.
//! - **A [`Directory`]** of the live nodes and placements, refreshed with each heartbeat,
//!   tells the REST API which node to forward an action to and whom to ask for lists.
//! - **Events between nodes**: each node publishes its operator events on the
//!   `chorus_events` channel (`NOTIFY`, bounded, dropped when the database is away), and
//!   relays the other nodes' to its own `/events` stream.

use chorus_engine::Notification;
use chorus_net::{Control, ControlHandle, Hosted, Metrics};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tracing::{info, warn};

/// How often a node writes its heartbeat and placements.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node silent this long is dead: its conferences may be placed elsewhere. The same
/// interval is written in the `chorus_live_placement` view (store migration 2).
pub const LIVENESS: Duration = Duration::from_secs(3);
const EVENTS: &str = "chorus_events";
/// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7900;
/// Events waiting for the database; more are dropped (the stream is best effort).
const EVENT_QUEUE: usize = 1024;

/// This node, as the others and the front door see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// A name unique among the nodes.
    pub name: String,
    /// Where SIP reaches it, e.g. `sip:10.0.0.5:5060`.
    pub sip_uri: String,
    /// Where its REST API is, e.g. `http://10.0.0.5:8080`.
    pub api_url: String,
}

/// Another live node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its name.
    pub name: String,
    /// Its REST API.
    pub api_url: String,
    /// Whether it drains.
    pub draining: bool,
}

/// An event another node published: its name and the event's JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEvent {
    /// The node it happened on.
    pub node: String,
    /// The JSON the node published.
    pub json: String,
}

#[derive(Debug, Default)]
struct Snapshot {
    peers: Vec<Peer>,
    /// Conference → node, for live nodes only.
    placements: HashMap<String, String>,
}

/// The live nodes and where each conference lives, as of the last heartbeat.
#[derive(Debug)]
pub struct Directory {
    me: Node,
    url: String,
    snapshot: RwLock<Snapshot>,
    events_out: SyncSender<String>,
    /// Set while events are being dropped, so the drop is logged once.
    dropping: AtomicBool,
    remote: broadcast::Sender<RemoteEvent>,
}

impl Directory {
    /// This node's name.
    pub fn node(&self) -> &str {
        &self.me.name
    }

    /// The other live nodes.
    pub fn peers(&self) -> Vec<Peer> {
        self.read().peers.clone()
    }

    /// The other live node that hosts `conference`, if one does.
    pub fn host_of(&self, conference: &str) -> Option<Peer> {
        let snapshot = self.read();
        let node = snapshot.placements.get(conference)?;
        snapshot.peers.iter().find(|p| &p.name == node).cloned()
    }

    /// Publishes one of this node's events (a JSON object) to the other nodes. Never
    /// blocks: with the database away and the queue full, the event is dropped.
    pub fn publish(&self, json: String) {
        let payload = format!("{}\n{json}", self.me.name);
        if payload.len() > MAX_PAYLOAD {
            return;
        }
        match self.events_out.try_send(payload) {
            Ok(()) => {
                self.dropping.store(false, Ordering::Relaxed);
            }
            // One line per stretch of drops, not one per event (talking events come often).
            Err(TrySendError::Full(_)) => {
                if !self.dropping.swap(true, Ordering::Relaxed) {
                    warn!("events for other nodes dropped: the database is not keeping up");
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// The other nodes' events, as they come.
    pub fn remote_events(&self) -> broadcast::Receiver<RemoteEvent> {
        self.remote.subscribe()
    }

    /// Takes this node and its placements out at once (a clean exit), rather than after
    /// [`LIVENESS`].
    pub fn leave(&self) {
        match Client::connect(&self.url, NoTls) {
            Ok(mut client) => {
                match client.execute("DELETE FROM chorus_node WHERE node = $1", &[&self.me.name]) {
                    Ok(_) => info!("left the cluster: this node's conferences are placed afresh"),
                    Err(e) => warn!(error = %e, "leaving the cluster"),
                }
            }
            Err(e) => warn!(error = %e, "leaving the cluster: no database"),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Joins the nodes on the database at `url`: starts the heartbeat (which asks the driver
/// behind `control` what it hosts), the event relay both ways, and returns the
/// directory. Needs a tokio runtime (the wake-up on call events runs on it).
pub fn join(
    url: &str,
    me: Node,
    control: ControlHandle,
    notify: &broadcast::Sender<Notification>,
    metrics: Arc<Metrics>,
) -> std::io::Result<Arc<Directory>> {
    let (events_out, events_queue) = sync_channel(EVENT_QUEUE);
    let directory = Arc::new(Directory {
        me,
        url: url.to_owned(),
        snapshot: RwLock::default(),
        events_out,
        dropping: AtomicBool::new(false),
        remote: broadcast::channel(1024).0,
    });
    // A call starting or ending is worth a heartbeat now: the next caller of a new
    // conference must find it placed. So is a drain: the front door must read that the
    // node drains before its probes fail, or its own conferences' callers would be
    // placed elsewhere. One pending wake-up at most.
    let (wake, woken) = sync_channel::<()>(1);
    let mut calls = notify.subscribe();
    tokio::spawn(async move {
        loop {
            match calls.recv().await {
                Ok(
                    Notification::MemberJoined { .. }
                    | Notification::CallEnded(_)
                    | Notification::Draining { .. },
                ) => {
                    let _ = wake.try_send(());
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let heart = Arc::clone(&directory);
    spawn("cluster-heartbeat", move || {
        heartbeat(&heart, &control, &woken, &metrics)
    })?;
    let out = Arc::clone(&directory);
    spawn("cluster-events-out", move || {
        publish_events(&out, &events_queue)
    })?;
    let relay = Arc::clone(&directory);
    spawn("cluster-events-in", move || relay_events(&relay))?;
    Ok(directory)
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map(drop)
}

/// What the driver hosts, asked from a plain thread; `None` once the driver stopped.
fn hosted(control: &ControlHandle) -> Option<Hosted> {
    let (reply, answer) = oneshot::channel();
    control.send(Control::Hosted(reply)).ok()?;
    answer.blocking_recv().ok()
}

fn heartbeat(
    directory: &Directory,
    control: &ControlHandle,
    woken: &Receiver<()>,
    metrics: &Metrics,
) {
    let mut client: Option<Client> = None;
    let mut split: BTreeSet<String> = BTreeSet::new();
    loop {
        let Some(hosted) = hosted(control) else {
            return;
        };
        if client.is_none() {
            client = Client::connect(&directory.url, NoTls)
                .inspect_err(|e| warn!(error = %e, "heartbeat: cannot reach the database"))
                .ok();
        }
        if let Some(db) = client.as_mut() {
            match beat(db, &directory.me, &hosted) {
                Ok((conflicts, snapshot)) => {
                    metrics
                        .split_conferences
                        .set(i64::try_from(conflicts.len()).unwrap_or(i64::MAX));
                    if conflicts != split {
                        if !conflicts.is_empty() {
                            warn!(
                                conferences = ?conflicts,
                                "conferences here are placed on another live node: their callers are split"
                            );
                        }
                        split = conflicts;
                    }
                    *directory
                        .snapshot
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = snapshot;
                }
                Err(e) => {
                    warn!(error = %e, "heartbeat failed; reconnecting");
                    client = None;
                }
            }
        }
        match woken.recv_timeout(HEARTBEAT) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(HEARTBEAT),
        }
    }
}

/// One heartbeat in one transaction: the node's row, its placements (taking over only
/// rows of dead nodes), then what the others hold. Returns the conferences hosted here
/// but placed on another live node, and the new snapshot.
fn beat(
    db: &mut Client,
    me: &Node,
    hosted: &Hosted,
) -> Result<(BTreeSet<String>, Snapshot), postgres::Error> {
    let liveness = format!("{} seconds", LIVENESS.as_secs());
    let mut tx = db.transaction()?;
    tx.execute(
        "INSERT INTO chorus_node (node, sip_uri, api_url, draining, heartbeat_at)
         VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (node) DO UPDATE SET sip_uri = excluded.sip_uri,
             api_url = excluded.api_url, draining = excluded.draining, heartbeat_at = now()",
        &[&me.name, &me.sip_uri, &me.api_url, &hosted.draining],
    )?;
    tx.execute(
        "DELETE FROM chorus_placement WHERE node = $1 AND NOT (extension = ANY($2))",
        &[&me.name, &hosted.conferences],
    )?;
    tx.execute(
        "INSERT INTO chorus_placement (extension, node) SELECT unnest($2::text[]), $1
         ON CONFLICT (extension) DO UPDATE SET node = excluded.node, since = now()
         WHERE chorus_placement.node <> excluded.node AND NOT EXISTS (
             SELECT 1 FROM chorus_node n WHERE n.node = chorus_placement.node
             AND n.heartbeat_at > now() - $3::text::interval)",
        &[&me.name, &hosted.conferences, &liveness],
    )?;
    let conflicts = tx
        .query(
            "SELECT extension FROM chorus_placement WHERE extension = ANY($2) AND node <> $1",
            &[&me.name, &hosted.conferences],
        )?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<BTreeSet<String>, _>>()?;
    let peers = tx
        .query(
            "SELECT node, api_url, draining FROM chorus_node
             WHERE node <> $1 AND heartbeat_at > now() - $2::text::interval ORDER BY node",
            &[&me.name, &liveness],
        )?
        .iter()
        .map(|row| {
            Ok(Peer {
                name: row.try_get(0)?,
                api_url: row.try_get(1)?,
                draining: row.try_get(2)?,
            })
        })
        .collect::<Result<Vec<Peer>, postgres::Error>>()?;
    let placements = tx
        .query("SELECT extension, node FROM chorus_live_placement", &[])?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<HashMap<String, String>, postgres::Error>>()?;
    tx.commit()?;
    Ok((conflicts, Snapshot { peers, placements }))
}

fn publish_events(directory: &Directory, queue: &Receiver<String>) {
    let mut client: Option<Client> = None;
    // After a failed connection, events are dropped until the next try (a second on), so
    // an unreachable database costs one attempt a second, not one per event.
    let mut retry_at = std::time::Instant::now();
    while let Ok(payload) = queue.recv() {
        if client.is_none() && std::time::Instant::now() >= retry_at {
            client = Client::connect(&directory.url, NoTls).ok();
            if client.is_none() {
                retry_at = std::time::Instant::now() + HEARTBEAT;
            }
        }
        let Some(db) = client.as_mut() else {
            continue;
        };
        if db
            .execute("SELECT pg_notify($1, $2)", &[&EVENTS, &payload])
            .is_err()
        {
            client = None;
        }
    }
}

fn relay_events(directory: &Directory) {
    loop {
        if let Ok(mut db) = Client::connect(&directory.url, NoTls)
            && db.batch_execute(&format!("LISTEN {EVENTS}")).is_ok()
        {
            let mut notifications = db.notifications();
            let mut iter = notifications.blocking_iter();
            while let Ok(Some(notification)) = iter.next() {
                let Some((node, json)) = notification.payload().split_once('\n') else {
                    continue;
                };
                if node != directory.me.name {
                    let _ = directory.remote.send(RemoteEvent {
                        node: node.to_owned(),
                        json: json.to_owned(),
                    });
                }
            }
        }
        std::thread::sleep(HEARTBEAT);
    }
}
