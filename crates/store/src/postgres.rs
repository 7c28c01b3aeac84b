//! The PostgreSQL store, for several nodes sharing one database (`--database
//! postgres://…`).
//!
//! The same guarantees as the SQLite store:
//! - **One update at a time per extension.** Every change of an extension runs in one
//!   transaction that first takes a transaction-scoped advisory lock on the extension's
//!   name, so concurrent PUTs on any nodes serialise and a refused change writes nothing.
//! - **Sounds live in the database** (8 kHz PCM in `bytea`), so every node plays the same
//!   prompts; a node keeps each one it read in `{cache}/{id}.pcm` (a sound never changes
//!   once stored, so the cache needs no invalidation, only removal on delete). Foreign
//!   keys keep a sound in use from being deleted, whichever node races.
//! - **Durable on acknowledgement**: a call returns after its transaction committed
//!   (PostgreSQL's default `synchronous_commit`).
//! - **Migrations** run once, under a cluster-wide advisory lock, so nodes starting
//!   together do not race; `chorus_migration` records what ran.
//!
//! Connections come from an r2d2 pool; a connection broken by a database restart is
//! dropped by the pool's check and the next call opens a fresh one.

use crate::{ConferenceRecord, Seeded, SoundRecord, Store, StoreError, UpdateFn, Updated};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{NoTls, Row, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Schema migrations, applied in order; `chorus_migration` holds the versions that ran.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE sound (
        id          BIGSERIAL PRIMARY KEY,
        name        TEXT NOT NULL,
        duration_ms BIGINT NOT NULL,
        created_at  BIGINT NOT NULL,
        pcm         BYTEA NOT NULL
    );
    CREATE TABLE conference (
        extension            TEXT PRIMARY KEY,
        announce_caller_name BOOLEAN NOT NULL DEFAULT FALSE,
        enter_sound          BIGINT REFERENCES sound (id),
        max_members          BIGINT,
        pin                  TEXT,
        moderator_pin        TEXT,
        mute_non_moderator   BOOLEAN NOT NULL DEFAULT FALSE,
        music_on_hold_sound  BIGINT REFERENCES sound (id),
        record_enabled       BOOLEAN NOT NULL DEFAULT FALSE,
        auto_gain            BOOLEAN,
        noise_suppression    BOOLEAN
    );
    -- Extensions an operator deleted: the config file never seeds them again.
    CREATE TABLE deleted_extension (
        extension TEXT PRIMARY KEY
    );
",
    "
    -- Several nodes (crates/cluster): each node, with a heartbeat on the database's clock.
    CREATE TABLE chorus_node (
        node         TEXT PRIMARY KEY,
        sip_uri      TEXT NOT NULL,
        api_url      TEXT NOT NULL,
        draining     BOOLEAN NOT NULL DEFAULT FALSE,
        heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    -- The node each conference lives on: one row per conference, so never two nodes.
    CREATE TABLE chorus_placement (
        extension TEXT PRIMARY KEY,
        node      TEXT NOT NULL REFERENCES chorus_node (node) ON DELETE CASCADE,
        since     TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX chorus_placement_node ON chorus_placement (node);
    -- What the front door asks: the placements of nodes alive within 3 s.
    CREATE VIEW chorus_live_placement AS
        SELECT p.extension, n.node, n.sip_uri, n.api_url, n.draining
        FROM chorus_placement p JOIN chorus_node n USING (node)
        WHERE n.heartbeat_at > now() - interval '3 seconds';
",
];

/// The channel every committed change of a conference is announced on.
const CHANNEL: &str = "chorus_settings";
/// How long the watcher waits for a notification before it checks its connection.
const WATCH_PROBE: Duration = Duration::from_secs(5);

/// The advisory lock migrations run under (any fixed number of ours).
const MIGRATION_LOCK: i64 = 0x6368_6f72_7573;
/// Connections per node.
const POOL_SIZE: u32 = 8;
/// How long a call waits for a connection (the database down: an error, not a hang).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const COLUMNS: &str = "announce_caller_name, enter_sound, max_members, pin, moderator_pin, \
                       mute_non_moderator, music_on_hold_sound, record_enabled, auto_gain, \
                       noise_suppression";

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// The PostgreSQL store (see the module docs).
pub struct PgStore {
    pool: Pool,
    cache: PathBuf,
}

impl std::fmt::Debug for PgStore {
    // The URL may carry a password: it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

fn db_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

fn record_at(row: &Row, first: usize) -> Result<ConferenceRecord, StoreError> {
    let max_members: Option<i64> = row.try_get(first + 2).map_err(db_error)?;
    Ok(ConferenceRecord {
        announce_caller_name: row.try_get(first).map_err(db_error)?,
        enter_sound: row.try_get(first + 1).map_err(db_error)?,
        max_members: max_members.and_then(|n| u32::try_from(n).ok()),
        pin: row.try_get(first + 3).map_err(db_error)?,
        moderator_pin: row.try_get(first + 4).map_err(db_error)?,
        mute_non_moderator: row.try_get(first + 5).map_err(db_error)?,
        music_on_hold_sound: row.try_get(first + 6).map_err(db_error)?,
        record_enabled: row.try_get(first + 7).map_err(db_error)?,
        auto_gain: row.try_get(first + 8).map_err(db_error)?,
        noise_suppression: row.try_get(first + 9).map_err(db_error)?,
    })
}

fn read_record(
    tx: &mut Transaction<'_>,
    extension: &str,
) -> Result<Option<ConferenceRecord>, StoreError> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM conference WHERE extension = $1"),
        &[&extension],
    )
    .map_err(db_error)?
    .map(|row| record_at(&row, 0))
    .transpose()
}

fn write_record(
    tx: &mut Transaction<'_>,
    extension: &str,
    r: &ConferenceRecord,
) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO conference (extension, {COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (extension) DO UPDATE SET
               announce_caller_name = excluded.announce_caller_name,
               enter_sound = excluded.enter_sound,
               max_members = excluded.max_members,
               pin = excluded.pin,
               moderator_pin = excluded.moderator_pin,
               mute_non_moderator = excluded.mute_non_moderator,
               music_on_hold_sound = excluded.music_on_hold_sound,
               record_enabled = excluded.record_enabled,
               auto_gain = excluded.auto_gain,
               noise_suppression = excluded.noise_suppression"
        ),
        &[
            &extension,
            &r.announce_caller_name,
            &r.enter_sound,
            &r.max_members.map(i64::from),
            &r.pin,
            &r.moderator_pin,
            &r.mute_non_moderator,
            &r.music_on_hold_sound,
            &r.record_enabled,
            &r.auto_gain,
            &r.noise_suppression,
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Tells every node's watcher, when the transaction commits (and not if it does not),
/// that the conferences changed.
fn announce(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    tx.batch_execute(&format!("NOTIFY {CHANNEL}"))
        .map_err(db_error)
}

/// Serialises every change of one extension, across nodes, until the transaction ends.
fn lock_extension(tx: &mut Transaction<'_>, extension: &str) -> Result<(), StoreError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&extension],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Runs `change` with a check of which sounds exist, read inside `tx`.
fn with_sounds<T>(
    tx: Transaction<'_>,
    change: impl FnOnce(&dyn Fn(i64) -> bool) -> T,
) -> (Transaction<'_>, T) {
    let tx = RefCell::new(tx);
    let exists = |id: i64| {
        tx.borrow_mut()
            .query_opt("SELECT 1 FROM sound WHERE id = $1", &[&id])
            .ok()
            .flatten()
            .is_some()
    };
    let out = change(&exists);
    (tx.into_inner(), out)
}

fn row_to_sound(row: &Row) -> Result<SoundRecord, StoreError> {
    let duration_ms: i64 = row.try_get(2).map_err(db_error)?;
    Ok(SoundRecord {
        id: row.try_get(0).map_err(db_error)?,
        name: row.try_get(1).map_err(db_error)?,
        duration_ms: duration_ms.max(0) as u64,
        created_at: row.try_get(3).map_err(db_error)?,
    })
}

fn pcm_to_bytes(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn bytes_to_pcm(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

impl PgStore {
    /// Connects to `url` (a `postgres://` URL), migrates the schema as needed, and keeps
    /// sounds it reads in `cache_dir`.
    pub fn open(url: &str, cache_dir: &Path) -> Result<PgStore, StoreError> {
        std::fs::create_dir_all(cache_dir)?;
        let config: postgres::Config = url.parse().map_err(db_error)?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .connection_timeout(CONNECT_TIMEOUT)
            .test_on_check_out(true)
            .build(manager)
            .map_err(db_error)?;
        let store = PgStore {
            pool,
            cache: cache_dir.to_owned(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn client(
        &self,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, StoreError> {
        self.pool.get().map_err(db_error)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(db_error)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS chorus_migration (version INTEGER PRIMARY KEY)",
        )
        .map_err(db_error)?;
        let done: i32 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM chorus_migration",
                &[],
            )
            .and_then(|row| row.try_get(0))
            .map_err(db_error)?;
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(done.max(0) as usize) {
            tx.batch_execute(migration).map_err(db_error)?;
            let version = i as i32 + 1;
            tx.execute(
                "INSERT INTO chorus_migration (version) VALUES ($1)",
                &[&version],
            )
            .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)
    }

    fn cached(&self, id: i64) -> PathBuf {
        self.cache.join(format!("{id}.pcm"))
    }

    /// Calls `changed` whenever any node commits a change of the conferences, and once
    /// after every (re)connection, so a change made while this node was cut off is not
    /// missed: the caller reloads everything each time. Runs on its own thread for the
    /// life of the process; a lost connection is retried every second.
    pub fn watch(
        url: &str,
        changed: impl Fn() + Send + 'static,
    ) -> Result<std::thread::JoinHandle<()>, StoreError> {
        let config: postgres::Config = url.parse().map_err(db_error)?;
        std::thread::Builder::new()
            .name("settings-watch".into())
            .spawn(move || {
                loop {
                    if let Ok(mut client) = config.connect(NoTls)
                        && client.batch_execute(&format!("LISTEN {CHANNEL}")).is_ok()
                    {
                        changed();
                        listen(&mut client, &changed);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
            .map_err(StoreError::File)
    }
}

/// Relays notifications until the connection fails.
fn listen(client: &mut postgres::Client, changed: &impl Fn()) {
    loop {
        let next = client.notifications().timeout_iter(WATCH_PROBE).next();
        match next {
            Ok(Some(_)) => {
                // A burst of changes is one reload.
                let _ = client.notifications().iter().count();
                changed();
            }
            // Quiet for a while: make sure the connection is still there.
            Ok(None) => {
                if client.is_valid(WATCH_PROBE).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

impl Store for PgStore {
    fn conference(&self, extension: &str) -> Result<Option<ConferenceRecord>, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db_error)?;
        let record = read_record(&mut tx, extension)?;
        tx.commit().map_err(db_error)?;
        Ok(record)
    }

    fn conferences(&self) -> Result<Vec<(String, ConferenceRecord)>, StoreError> {
        let mut client = self.client()?;
        let rows = client
            .query(
                &format!("SELECT extension, {COLUMNS} FROM conference ORDER BY extension"),
                &[],
            )
            .map_err(db_error)?;
        rows.iter()
            .map(|row| Ok((row.try_get(0).map_err(db_error)?, record_at(row, 1)?)))
            .collect()
    }

    fn update_conference(
        &self,
        extension: &str,
        change: Box<UpdateFn<'_>>,
    ) -> Result<Updated, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db_error)?;
        lock_extension(&mut tx, extension)?;
        let current = read_record(&mut tx, extension)?;
        let created = current.is_none();
        let (mut tx, record) = with_sounds(tx, |exists| change(current, exists));
        let record = record.map_err(StoreError::Rejected)?;
        write_record(&mut tx, extension, &record)?;
        // Created again by an operator: no longer deleted.
        tx.execute(
            "DELETE FROM deleted_extension WHERE extension = $1",
            &[&extension],
        )
        .map_err(db_error)?;
        announce(&mut tx)?;
        tx.commit().map_err(db_error)?;
        Ok(Updated { record, created })
    }

    fn seed_conference(
        &self,
        extension: &str,
        check: Box<UpdateFn<'_>>,
    ) -> Result<Seeded, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db_error)?;
        lock_extension(&mut tx, extension)?;
        if read_record(&mut tx, extension)?.is_some() {
            return Ok(Seeded::Existed);
        }
        let deleted = tx
            .query_opt(
                "SELECT 1 FROM deleted_extension WHERE extension = $1",
                &[&extension],
            )
            .map_err(db_error)?
            .is_some();
        if deleted {
            return Ok(Seeded::Deleted);
        }
        let (mut tx, record) = with_sounds(tx, |exists| check(None, exists));
        let record = record.map_err(StoreError::Rejected)?;
        write_record(&mut tx, extension, &record)?;
        announce(&mut tx)?;
        tx.commit().map_err(db_error)?;
        Ok(Seeded::Inserted)
    }

    fn delete_conference(&self, extension: &str) -> Result<bool, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db_error)?;
        lock_extension(&mut tx, extension)?;
        let n = tx
            .execute("DELETE FROM conference WHERE extension = $1", &[&extension])
            .map_err(db_error)?;
        if n > 0 {
            tx.execute(
                "INSERT INTO deleted_extension (extension) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&extension],
            )
            .map_err(db_error)?;
            announce(&mut tx)?;
        }
        tx.commit().map_err(db_error)?;
        Ok(n > 0)
    }

    fn add_sound(&self, name: &str, pcm: &[i16]) -> Result<SoundRecord, StoreError> {
        let created_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let duration_ms = pcm.len() as u64 / 8;
        let mut client = self.client()?;
        let row = client
            .query_one(
                "INSERT INTO sound (name, duration_ms, created_at, pcm) VALUES ($1, $2, $3, $4)
                 RETURNING id",
                &[
                    &name,
                    &(duration_ms as i64),
                    &created_at,
                    &pcm_to_bytes(pcm),
                ],
            )
            .map_err(db_error)?;
        Ok(SoundRecord {
            id: row.try_get(0).map_err(db_error)?,
            name: name.to_owned(),
            duration_ms,
            created_at,
        })
    }

    fn sound(&self, id: i64) -> Result<Option<SoundRecord>, StoreError> {
        let mut client = self.client()?;
        client
            .query_opt(
                "SELECT id, name, duration_ms, created_at FROM sound WHERE id = $1",
                &[&id],
            )
            .map_err(db_error)?
            .map(|row| row_to_sound(&row))
            .transpose()
    }

    fn sounds(&self) -> Result<Vec<SoundRecord>, StoreError> {
        let mut client = self.client()?;
        client
            .query(
                "SELECT id, name, duration_ms, created_at FROM sound ORDER BY id",
                &[],
            )
            .map_err(db_error)?
            .iter()
            .map(row_to_sound)
            .collect()
    }

    fn sound_pcm(&self, id: i64) -> Result<Option<Vec<i16>>, StoreError> {
        if self.sound(id)?.is_none() {
            // Deleted on another node: forget our copy too.
            let _ = std::fs::remove_file(self.cached(id));
            return Ok(None);
        }
        if let Ok(bytes) = std::fs::read(self.cached(id)) {
            return Ok(Some(bytes_to_pcm(&bytes)));
        }
        let mut client = self.client()?;
        let Some(row) = client
            .query_opt("SELECT pcm FROM sound WHERE id = $1", &[&id])
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let bytes: Vec<u8> = row.try_get(0).map_err(db_error)?;
        // Written whole under another name, then renamed: a reader never sees half.
        let partial = self.cache.join(format!("{id}.pcm.partial"));
        if std::fs::write(&partial, &bytes).is_ok() {
            let _ = std::fs::rename(&partial, self.cached(id));
        }
        Ok(Some(bytes_to_pcm(&bytes)))
    }

    fn delete_sound(&self, id: i64) -> Result<bool, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(db_error)?;
        let users: Vec<String> = tx
            .query(
                "SELECT extension FROM conference
                 WHERE enter_sound = $1 OR music_on_hold_sound = $1 ORDER BY extension",
                &[&id],
            )
            .map_err(db_error)?
            .iter()
            .map(|row| row.try_get(0).map_err(db_error))
            .collect::<Result<_, _>>()?;
        if !users.is_empty() {
            return Err(StoreError::Rejected(format!(
                "sound {id} is used by extension {}",
                users.join(", ")
            )));
        }
        // A conference that takes it up meanwhile on another node makes the foreign key
        // refuse this delete: nothing is lost.
        let n = tx
            .execute("DELETE FROM sound WHERE id = $1", &[&id])
            .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        if n > 0 {
            let _ = std::fs::remove_file(self.cached(id));
        }
        Ok(n > 0)
    }
}
