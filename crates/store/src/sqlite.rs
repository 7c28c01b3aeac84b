//! The embedded SQLite store.

use crate::{
    ConferenceRecord, Seeded, SoundRecord, Store, StoreError, UpdateFn, Updated, clip_to_wav,
    wav_to_clip,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Schema migrations, applied in order; `PRAGMA user_version` counts how many ran.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE conference (
        extension            TEXT PRIMARY KEY NOT NULL,
        announce_caller_name INTEGER NOT NULL DEFAULT 0,
        enter_sound          INTEGER,
        max_members          INTEGER,
        pin                  TEXT,
        moderator_pin        TEXT,
        mute_non_moderator   INTEGER NOT NULL DEFAULT 0,
        music_on_hold_sound  INTEGER,
        record_enabled       INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE sound (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        name        TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        created_at  INTEGER NOT NULL
    );
",
    "
    -- Extensions an operator deleted: the config file never seeds them again.
    CREATE TABLE deleted_extension (
        extension TEXT PRIMARY KEY NOT NULL
    );
",
    "
    -- Voice processing per conference; NULL follows the bridge's flags.
    ALTER TABLE conference ADD COLUMN auto_gain INTEGER;
    ALTER TABLE conference ADD COLUMN noise_suppression INTEGER;
",
];

/// SQLite in `{data_dir}/chorus.db`, sound files in `{data_dir}/sounds/`.
#[derive(Debug)]
pub struct SqliteStore {
    db: Mutex<Connection>,
    sounds: PathBuf,
}

/// Whether a sound id exists, read inside the caller's transaction.
fn sound_exists(db: &Connection, id: i64) -> bool {
    db.query_row("SELECT 1 FROM sound WHERE id = ?1", [id], |_| Ok(()))
        .optional()
        .ok()
        .flatten()
        .is_some()
}

fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Reads the `COLUMNS` of a row, starting at column `first`.
fn record_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<ConferenceRecord> {
    Ok(ConferenceRecord {
        announce_caller_name: row.get(first)?,
        enter_sound: row.get(first + 1)?,
        max_members: row.get(first + 2)?,
        pin: row.get(first + 3)?,
        moderator_pin: row.get(first + 4)?,
        mute_non_moderator: row.get(first + 5)?,
        music_on_hold_sound: row.get(first + 6)?,
        record_enabled: row.get(first + 7)?,
        auto_gain: row.get(first + 8)?,
        noise_suppression: row.get(first + 9)?,
    })
}

const COLUMNS: &str = "announce_caller_name, enter_sound, max_members, pin, moderator_pin, \
                       mute_non_moderator, music_on_hold_sound, record_enabled, auto_gain, \
                       noise_suppression";

fn write_record(db: &Connection, extension: &str, r: &ConferenceRecord) -> rusqlite::Result<usize> {
    db.execute(
        &format!(
            "INSERT INTO conference (extension, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(extension) DO UPDATE SET
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
        params![
            extension,
            r.announce_caller_name,
            r.enter_sound,
            r.max_members,
            r.pin,
            r.moderator_pin,
            r.mute_non_moderator,
            r.music_on_hold_sound,
            r.record_enabled,
            r.auto_gain,
            r.noise_suppression
        ],
    )
}

fn read_record(db: &Connection, extension: &str) -> rusqlite::Result<Option<ConferenceRecord>> {
    db.query_row(
        &format!("SELECT {COLUMNS} FROM conference WHERE extension = ?1"),
        [extension],
        |row| record_at(row, 0),
    )
    .optional()
}

fn row_to_sound(row: &rusqlite::Row<'_>) -> rusqlite::Result<SoundRecord> {
    Ok(SoundRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        duration_ms: row.get::<_, i64>(2)?.max(0) as u64,
        created_at: row.get(3)?,
    })
}

impl SqliteStore {
    /// Opens (creating and migrating as needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let sounds = data_dir.join("sounds");
        std::fs::create_dir_all(&sounds)?;
        let db = Connection::open(data_dir.join("chorus.db")).map_err(db_error)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error)?;
        // FULL: a returned write survives a crash or kill -9, not just a clean exit.
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(db_error)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_error)?;
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db_error)?;
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            db.execute_batch(migration).map_err(db_error)?;
            db.pragma_update(None, "user_version", i as i64 + 1)
                .map_err(db_error)?;
        }
        Ok(SqliteStore {
            db: Mutex::new(db),
            sounds,
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sound_path(&self, id: i64) -> PathBuf {
        self.sounds.join(format!("{id}.wav"))
    }
}

impl Store for SqliteStore {
    fn conference(&self, extension: &str) -> Result<Option<ConferenceRecord>, StoreError> {
        read_record(&self.db(), extension).map_err(db_error)
    }

    fn conferences(&self) -> Result<Vec<(String, ConferenceRecord)>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(&format!(
                "SELECT extension, {COLUMNS} FROM conference ORDER BY extension"
            ))
            .map_err(db_error)?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, record_at(row, 1)?)))
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    fn update_conference(
        &self,
        extension: &str,
        change: Box<UpdateFn<'_>>,
    ) -> Result<Updated, StoreError> {
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let current = read_record(&tx, extension).map_err(db_error)?;
        let created = current.is_none();
        let sound_exists = |id: i64| sound_exists(&tx, id);
        let record = change(current, &sound_exists).map_err(StoreError::Rejected)?;
        write_record(&tx, extension, &record).map_err(db_error)?;
        // Created again by an operator: no longer deleted.
        tx.execute(
            "DELETE FROM deleted_extension WHERE extension = ?1",
            [extension],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok(Updated { record, created })
    }

    fn seed_conference(
        &self,
        extension: &str,
        check: Box<UpdateFn<'_>>,
    ) -> Result<Seeded, StoreError> {
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        if read_record(&tx, extension).map_err(db_error)?.is_some() {
            return Ok(Seeded::Existed);
        }
        let deleted = tx
            .query_row(
                "SELECT 1 FROM deleted_extension WHERE extension = ?1",
                [extension],
                |_| Ok(()),
            )
            .optional()
            .map_err(db_error)?
            .is_some();
        if deleted {
            return Ok(Seeded::Deleted);
        }
        let sound_exists = |id: i64| sound_exists(&tx, id);
        let record = check(None, &sound_exists).map_err(StoreError::Rejected)?;
        write_record(&tx, extension, &record).map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok(Seeded::Inserted)
    }

    fn delete_conference(&self, extension: &str) -> Result<bool, StoreError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(db_error)?;
        let n = tx
            .execute("DELETE FROM conference WHERE extension = ?1", [extension])
            .map_err(db_error)?;
        if n > 0 {
            tx.execute(
                "INSERT OR IGNORE INTO deleted_extension (extension) VALUES (?1)",
                [extension],
            )
            .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)?;
        Ok(n > 0)
    }

    fn add_sound(&self, name: &str, pcm: &[i16]) -> Result<SoundRecord, StoreError> {
        let created_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let duration_ms = pcm.len() as u64 / 8;
        let db = self.db();
        db.execute(
            "INSERT INTO sound (name, duration_ms, created_at) VALUES (?1, ?2, ?3)",
            params![name, duration_ms as i64, created_at],
        )
        .map_err(db_error)?;
        let id = db.last_insert_rowid();
        // Write the file before anyone can see the id; on failure forget the row.
        let path = self.sound_path(id);
        let written = std::fs::write(&path, clip_to_wav(pcm));
        if let Err(e) = written {
            let _ = db.execute("DELETE FROM sound WHERE id = ?1", [id]);
            return Err(e.into());
        }
        Ok(SoundRecord {
            id,
            name: name.to_owned(),
            duration_ms,
            created_at,
        })
    }

    fn sound(&self, id: i64) -> Result<Option<SoundRecord>, StoreError> {
        self.db()
            .query_row(
                "SELECT id, name, duration_ms, created_at FROM sound WHERE id = ?1",
                [id],
                row_to_sound,
            )
            .optional()
            .map_err(db_error)
    }

    fn sounds(&self) -> Result<Vec<SoundRecord>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare("SELECT id, name, duration_ms, created_at FROM sound ORDER BY id")
            .map_err(db_error)?;
        let rows = statement.query_map([], row_to_sound).map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)
    }

    fn sound_pcm(&self, id: i64) -> Result<Option<Vec<i16>>, StoreError> {
        if self.sound(id)?.is_none() {
            return Ok(None);
        }
        let bytes = std::fs::read(self.sound_path(id))?;
        wav_to_clip(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Rejected(e.to_string()))
    }

    fn delete_sound(&self, id: i64) -> Result<bool, StoreError> {
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let users: Vec<String> = {
            let mut statement = tx
                .prepare(
                    "SELECT extension FROM conference WHERE enter_sound = ?1 OR music_on_hold_sound = ?1 ORDER BY extension",
                )
                .map_err(db_error)?;
            let rows = statement
                .query_map([id], |row| row.get(0))
                .map_err(db_error)?;
            rows.collect::<Result<_, _>>().map_err(db_error)?
        };
        if !users.is_empty() {
            return Err(StoreError::Rejected(format!(
                "sound {id} is used by extension {}",
                users.join(", ")
            )));
        }
        let n = tx
            .execute("DELETE FROM sound WHERE id = ?1", [id])
            .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        if n > 0 {
            let _ = std::fs::remove_file(self.sound_path(id));
        }
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "chorus-store-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn conference_round_trip_survives_reopen() {
        let dir = temp();
        {
            let store = SqliteStore::open(&dir).expect("open");
            let updated = store
                .update_conference(
                    "500",
                    Box::new(|current, _| {
                        assert!(current.is_none());
                        Ok(ConferenceRecord {
                            pin: Some("1234".into()),
                            max_members: Some(10),
                            auto_gain: Some(false),
                            ..Default::default()
                        })
                    }),
                )
                .expect("update");
            assert!(updated.created);
        }
        let store = SqliteStore::open(&dir).expect("reopen");
        let record = store.conference("500").expect("read").expect("present");
        assert_eq!(record.pin.as_deref(), Some("1234"));
        assert_eq!(record.max_members, Some(10));
        assert_eq!(
            (record.auto_gain, record.noise_suppression),
            (Some(false), None)
        );
        assert_eq!(store.conferences().expect("list").len(), 1);
        assert!(store.delete_conference("500").expect("delete"));
        assert!(!store.delete_conference("500").expect("delete again"));
    }

    #[test]
    fn a_store_made_before_voice_processing_is_migrated_and_keeps_its_conferences() {
        let dir = temp();
        std::fs::create_dir_all(&dir).expect("dir");
        {
            let db = Connection::open(dir.join("chorus.db")).expect("db");
            for migration in &MIGRATIONS[..2] {
                db.execute_batch(migration).expect("old schema");
            }
            db.pragma_update(None, "user_version", 2).expect("version");
            db.execute(
                "INSERT INTO conference (extension, pin) VALUES ('500', '4321')",
                [],
            )
            .expect("old row");
        }
        let store = SqliteStore::open(&dir).expect("migrate");
        let record = store.conference("500").expect("read").expect("kept");
        assert_eq!(record.pin.as_deref(), Some("4321"));
        assert_eq!((record.auto_gain, record.noise_suppression), (None, None));
    }

    #[test]
    fn rejected_update_writes_nothing() {
        let dir = temp();
        let store = SqliteStore::open(&dir).expect("open");
        let err = store
            .update_conference("600", Box::new(|_, _| Err("no".into())))
            .expect_err("rejected");
        assert!(matches!(err, StoreError::Rejected(_)));
        assert!(store.conference("600").expect("read").is_none());
    }

    #[test]
    fn sounds_in_use_cannot_be_deleted() {
        let dir = temp();
        let store = SqliteStore::open(&dir).expect("open");
        let sound = store.add_sound("chime", &[1, 2, 3, 4]).expect("add");
        assert_eq!(
            store.sound_pcm(sound.id).expect("pcm"),
            Some(vec![1, 2, 3, 4])
        );
        store
            .update_conference(
                "500",
                Box::new(move |_, exists| {
                    assert!(exists(sound.id));
                    assert!(!exists(sound.id + 100));
                    Ok(ConferenceRecord {
                        enter_sound: Some(sound.id),
                        ..Default::default()
                    })
                }),
            )
            .expect("use it");
        assert!(matches!(
            store.delete_sound(sound.id),
            Err(StoreError::Rejected(_))
        ));
        store.delete_conference("500").expect("delete");
        assert!(store.delete_sound(sound.id).expect("delete sound"));
        assert!(store.sound(sound.id).expect("read").is_none());
    }
}
