//! Operator requests into the running bridge (from the REST API), answered on oneshots.

use chorus_engine::{AdhocRefusal, ConferenceInfo, ExtensionConfig, MemberInfo};
use std::collections::HashMap;
use std::time::SystemTime;
use tokio::sync::{mpsc, oneshot};

/// A member as operators see it, with a wall-clock join time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// What the engine knows.
    pub info: MemberInfo,
    /// When the member entered.
    pub joined_at: SystemTime,
    /// Media figures, refreshed once a second (none in the first second).
    pub media: Option<chorus_engine::LegStats>,
}

/// One request.
#[derive(Debug)]
pub enum Control {
    /// New settings for every extension (after a change in the store).
    SetExtensions(HashMap<String, ExtensionConfig>),
    /// The extension was deleted: say goodbye to everyone on it.
    EndConference(String),
    /// Live conferences.
    Conferences(oneshot::Sender<Vec<ConferenceInfo>>),
    /// Members of a live conference (`None`: not live).
    Members(String, oneshot::Sender<Option<Vec<Member>>>),
    /// Mute or unmute a member; answers whether the member was found.
    SetMuted {
        /// The extension.
        conference: String,
        /// The member id.
        member: u64,
        /// Muted or not.
        muted: bool,
        /// Found or not.
        reply: oneshot::Sender<bool>,
    },
    /// Change a member's volume or deafness; answers whether the member was found.
    SetHearing {
        /// The extension.
        conference: String,
        /// The member id.
        member: u64,
        /// What changes.
        change: chorus_engine::HearingChange,
        /// Found or not.
        reply: oneshot::Sender<bool>,
    },
    /// Hang a member up.
    Kick {
        /// The extension.
        conference: String,
        /// The member id.
        member: u64,
        /// Found or not.
        reply: oneshot::Sender<bool>,
    },
    /// Create a temporary conference with these settings; answers its id and SIP URI.
    CreateTemporary {
        /// Its settings.
        config: Box<ExtensionConfig>,
        /// The id and URI, or why none was created.
        reply: oneshot::Sender<Result<(String, String), AdhocRefusal>>,
    },
    /// End a temporary conference now; answers whether there was one.
    EndTemporary {
        /// Its id.
        conference: String,
        /// Found or not.
        reply: oneshot::Sender<bool>,
    },
    /// Lock or unlock a live conference; answers whether it was live.
    SetLocked {
        /// The extension.
        conference: String,
        /// Locked or not.
        locked: bool,
        /// Live or not.
        reply: oneshot::Sender<bool>,
    },
    /// Mute or unmute every participant of a live conference (moderators untouched);
    /// answers how many changed, or `None` when it is not live.
    SetAllMuted {
        /// The extension.
        conference: String,
        /// Muted or not.
        muted: bool,
        /// How many changed.
        reply: oneshot::Sender<Option<usize>>,
    },
    /// Start or stop recording a live conference's whole mix; answers whether anything
    /// changed, or `None` when nobody is in it.
    RecordConference {
        /// The extension.
        conference: String,
        /// Start or stop.
        on: bool,
        /// Whether it changed.
        reply: oneshot::Sender<Option<bool>>,
    },
    /// Play a sound to one member or everyone; answers the play's id, or `None` when
    /// there is nobody to play to.
    Play {
        /// The extension.
        conference: String,
        /// One member, or everyone.
        member: Option<u64>,
        /// The sound.
        clip: chorus_types::Clip,
        /// The play's id.
        reply: oneshot::Sender<Option<u64>>,
    },
    /// Invite a number into a conference (the `*8` path, for an operator); answers the
    /// invited leg's id or why not.
    DialOut {
        /// The extension.
        conference: String,
        /// The number.
        number: String,
        /// The leg's id, or the refusal.
        reply: oneshot::Sender<Result<u64, chorus_engine::DialRefusal>>,
    },
    /// Move a member to another conference on this node.
    MoveMember {
        /// The extension it is in.
        conference: String,
        /// The member.
        member: u64,
        /// The extension it goes to.
        to: String,
        /// Done, or the refusal.
        reply: oneshot::Sender<Result<(), chorus_engine::MoveRefusal>>,
    },
    /// Start draining (again: no change); answers the calls still up.
    Drain(oneshot::Sender<usize>),
    /// The conferences that live on this node, and whether it drains.
    Hosted(oneshot::Sender<Hosted>),
}

/// What [`Control::Hosted`] answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosted {
    /// Conferences with a call here (callers at the PIN prompt count), sorted.
    pub conferences: Vec<String>,
    /// Whether the node drains.
    pub draining: bool,
}

/// The sending side the API holds.
#[derive(Debug, Clone)]
pub struct ControlHandle {
    sender: mpsc::UnboundedSender<Control>,
}

/// The bridge stopped: no answer will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the bridge is not running")]
pub struct Stopped;

impl ControlHandle {
    /// A handle and the receiver [`crate::run`] takes.
    pub fn new() -> (ControlHandle, mpsc::UnboundedReceiver<Control>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (ControlHandle { sender }, receiver)
    }

    /// Sends a request that needs no answer.
    pub fn send(&self, control: Control) -> Result<(), Stopped> {
        self.sender.send(control).map_err(|_| Stopped)
    }

    /// Sends a request built around a reply channel and waits for the answer.
    pub async fn ask<T>(
        &self,
        build: impl FnOnce(oneshot::Sender<T>) -> Control,
    ) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.send(build(reply))?;
        answer.await.map_err(|_| Stopped)
    }
}
