//! Persistent settings: conference extensions and uploaded sounds.
//!
//! [`Store`] is what the REST API and the binary need; [`SqliteStore`] implements it on an
//! embedded SQLite database (WAL, full sync, so a change survives `kill -9` once the call
//! returned) in the data directory, with sound files next to it in `sounds/{id}.wav`.
//! [`PgStore`] implements it on PostgreSQL for several nodes sharing one database, with
//! sounds in the database and a disk cache per node.
//!
//! [`Store::update_conference`] runs read, change and write in one transaction, so
//! concurrent updates of one extension serialise and nothing invalid is ever stored.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod postgres;
mod sounds;
mod sqlite;

pub use postgres::PgStore;
pub use sounds::{WavError, clip_to_wav, wav_to_clip};
pub use sqlite::SqliteStore;

/// One conference extension's properties, as the REST API names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConferenceRecord {
    /// Callers record their name, announced on entry.
    pub announce_caller_name: bool,
    /// Sound played when someone enters.
    pub enter_sound: Option<i64>,
    /// Most participants at once (`None`: 100).
    pub max_members: Option<u32>,
    /// Participant PIN.
    pub pin: Option<String>,
    /// Moderator PIN.
    pub moderator_pin: Option<String>,
    /// Everyone but moderators enters muted.
    pub mute_non_moderator: bool,
    /// Music while alone.
    pub music_on_hold_sound: Option<i64>,
    /// Record invited participants.
    pub record_enabled: bool,
    /// Gain control on the talkers (`None`: the bridge's default).
    pub auto_gain: Option<bool>,
    /// Noise suppression on the talkers (`None`: the bridge's default).
    pub noise_suppression: Option<bool>,
}

/// An uploaded sound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoundRecord {
    /// Its id.
    pub id: i64,
    /// A name given at upload.
    pub name: String,
    /// Length in milliseconds.
    pub duration_ms: u64,
    /// Upload time, seconds since the Unix epoch.
    pub created_at: i64,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// A sound file could not be written or read.
    #[error("sound file: {0}")]
    File(#[from] std::io::Error),
    /// The change was refused by the caller's check; nothing was written.
    #[error("{0}")]
    Rejected(String),
}

/// The result of [`Store::update_conference`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    /// The record as stored.
    pub record: ConferenceRecord,
    /// Whether the extension was new.
    pub created: bool,
}

/// A check an update runs inside its transaction: it gets the current record (`None` for
/// a new extension) and the ids of existing sounds, and returns the new record or refuses.
pub type UpdateFn<'a> = dyn FnOnce(Option<ConferenceRecord>, &dyn Fn(i64) -> bool) -> Result<ConferenceRecord, String>
    + 'a;

/// What seeding an extension did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    /// It was new: stored.
    Inserted,
    /// The store has it (perhaps changed over REST): left alone.
    Existed,
    /// An operator deleted it: stays deleted.
    Deleted,
}

/// Storage for extensions and sounds.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// One extension's properties.
    fn conference(&self, extension: &str) -> Result<Option<ConferenceRecord>, StoreError>;
    /// Every extension.
    fn conferences(&self) -> Result<Vec<(String, ConferenceRecord)>, StoreError>;
    /// Reads, changes (by `change`) and writes one extension atomically.
    fn update_conference(
        &self,
        extension: &str,
        change: Box<UpdateFn<'_>>,
    ) -> Result<Updated, StoreError>;
    /// Seeds an extension from the config file: only one the store never had (an operator
    /// may have changed or deleted it since), and only what `check` (given no current
    /// record and the sounds that exist) accepts.
    fn seed_conference(
        &self,
        extension: &str,
        check: Box<UpdateFn<'_>>,
    ) -> Result<Seeded, StoreError>;
    /// Removes an extension, for good: the config file will not seed it again. `false` when
    /// there was none.
    fn delete_conference(&self, extension: &str) -> Result<bool, StoreError>;
    /// Stores a sound (8 kHz mono PCM) and returns its id.
    fn add_sound(&self, name: &str, pcm: &[i16]) -> Result<SoundRecord, StoreError>;
    /// One sound.
    fn sound(&self, id: i64) -> Result<Option<SoundRecord>, StoreError>;
    /// Every sound.
    fn sounds(&self) -> Result<Vec<SoundRecord>, StoreError>;
    /// The sound's 8 kHz PCM.
    fn sound_pcm(&self, id: i64) -> Result<Option<Vec<i16>>, StoreError>;
    /// Deletes a sound unless an extension uses it; `Err(Rejected)` names the users.
    fn delete_sound(&self, id: i64) -> Result<bool, StoreError>;
}
