//! What the engine tells its driver and operators: events, notifications, why calls end,
//! live conference and member views, and counters.

use crate::CallId;
use crate::MediaParams;
use std::time::Instant;

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller hung up (BYE).
    RemoteBye,
    /// The caller cancelled before the answer.
    Cancelled,
    /// Our 2xx was never acknowledged.
    AckTimeout,
    /// The bridge hung up (shutdown, a rule, or the conference was deleted).
    LocalHangup,
    /// An operator removed the member.
    Kicked,
    /// No RTP port could be had.
    MediaUnavailable,
    /// The caller's answer in the ACK was unusable.
    BadAnswer,
    /// No RTP or RTCP from the caller for the media timeout: the phone is gone.
    MediaTimeout,
    /// The RFC 4028 session expired: no refresh came, or ours was answered 408/481.
    SessionExpired,
}

impl EndReason {
    /// The reason as operators read it in events and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::RemoteBye => "remote_bye",
            EndReason::Cancelled => "cancelled",
            EndReason::AckTimeout => "ack_timeout",
            EndReason::LocalHangup => "local_hangup",
            EndReason::Kicked => "kicked",
            EndReason::MediaUnavailable => "media_unavailable",
            EndReason::BadAnswer => "bad_answer",
            EndReason::MediaTimeout => "media_timeout",
            EndReason::SessionExpired => "session_expired",
        }
    }
}

/// What the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bind an RTP socket for this call and report it with [`Engine::media_ready`].
    MediaRequested {
        /// The call.
        call: CallId,
    },
    /// The call is answered and its media agreed: join it to its conference.
    CallStarted {
        /// The call.
        call: CallId,
        /// The conference extension dialled.
        conference: String,
        /// Negotiated media.
        media: MediaParams,
        /// An SSRC for our outgoing stream.
        ssrc: u32,
        /// The SIP Call-ID, for logs.
        sip_call_id: String,
    },
    /// A re-INVITE changed the media (address, codec, hold).
    MediaChanged {
        /// The call.
        call: CallId,
        /// The new media.
        media: MediaParams,
    },
    /// Something for the media side of a call or conference.
    Media(crate::MediaCommand),
    /// Something operators may watch.
    Notify(Notification),
    /// The call is over: release its media and socket.
    CallEnded {
        /// The call.
        call: CallId,
        /// Why.
        reason: EndReason,
    },
}

/// What a call was, told once at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSummary {
    /// The conference (extension) it was for.
    pub conference: String,
    /// The call's member id.
    pub member: u64,
    /// The SIP Call-ID.
    pub sip_call_id: String,
    /// The caller's From URI (for an invitation, the number's URI).
    pub caller: String,
    /// The codec agreed, if media was.
    pub codec: Option<String>,
    /// From the INVITE (or the invitation's answer) to the end.
    pub duration_ms: u64,
    /// Why it ended, e.g. `remote_bye`, `media_timeout`.
    pub reason: String,
}

/// Something operators may want to watch (the REST API streams these as events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A caller entered a conference.
    MemberJoined {
        /// The conference.
        conference: String,
        /// The member id (the call's id).
        member: u64,
        /// The caller's From URI.
        caller: String,
        /// Moderator or participant.
        moderator: bool,
    },
    /// A member left.
    MemberLeft {
        /// The conference.
        conference: String,
        /// The member id.
        member: u64,
        /// Why, e.g. `remote_bye`, `kicked`, `media_timeout`.
        reason: String,
    },
    /// A call ended: one summary per call, members or not.
    CallEnded(CallSummary),
    /// An answered caller was turned away before entering.
    Refused {
        /// The conference.
        conference: String,
        /// The caller's From URI.
        caller: String,
        /// `locked` or `full`.
        reason: String,
    },
    /// A caller keyed a wrong PIN (the keys themselves are never reported).
    WrongPin {
        /// The conference.
        conference: String,
        /// The caller's From URI.
        caller: String,
    },
    /// A member keyed `*8`: the number, who keyed it, and whether the policy let it ring.
    DialOut {
        /// The conference.
        conference: String,
        /// The member who keyed it (`None`: an operator, over REST).
        member: Option<u64>,
        /// The caller's From URI (`api` for an operator).
        caller: String,
        /// The number keyed.
        number: String,
        /// `dialing`, or why it was refused.
        outcome: String,
    },
    /// A member started or stopped talking.
    Talking {
        /// The conference.
        conference: String,
        /// The member id.
        member: u64,
        /// Talking now or not.
        talking: bool,
    },
    /// A member was muted or unmuted.
    Muted {
        /// The conference.
        conference: String,
        /// The member id.
        member: u64,
        /// Muted now or not.
        muted: bool,
    },
    /// An operator changed a member's volume or deafness.
    Hearing {
        /// The conference.
        conference: String,
        /// The member id.
        member: u64,
        /// Its hearing now.
        hearing: super::Hearing,
    },
    /// A conference was locked or unlocked.
    Locked {
        /// The conference.
        conference: String,
        /// Locked now or not.
        locked: bool,
    },
    /// An invited member's recording started (the recording id is the file's stem).
    RecordingStarted {
        /// The conference.
        conference: String,
        /// The invited member recorded, or `None` for the whole conference.
        member: Option<u64>,
        /// The recording id.
        recording: String,
    },
    /// A recording ended: the leg hung up, an operator stopped the conference's, the
    /// conference emptied, or writing failed (the call goes on).
    RecordingStopped {
        /// The conference.
        conference: String,
        /// The invited member recorded, or `None` for the whole conference.
        member: Option<u64>,
        /// The recording id.
        recording: String,
        /// `hangup`, `stopped`, `ended`, `shutdown` or the error that stopped it.
        reason: String,
    },
    /// A temporary conference was created (by the factory URI or by an operator).
    ConferenceCreated {
        /// The new conference's id.
        conference: String,
        /// `factory` or `api`.
        by: String,
    },
    /// A temporary conference is gone: empty for the linger, or ended by an operator.
    ConferenceEnded {
        /// The conference's id.
        conference: String,
        /// `empty` or `api`.
        reason: String,
    },
    /// Someone acted on a conference: who asked, and for what.
    Action {
        /// The conference.
        conference: String,
        /// What: `mute`, `unmute`, `mute_all`, `unmute_all`, `kick`, `lock`, `unlock`,
        /// `notifications_off`, `notifications_on`, `hearing`, `play`.
        action: &'static str,
        /// The member acted on, if one.
        member: Option<u64>,
        /// Who asked.
        by: Actor,
    },
    /// A sound played over REST ended for everyone it was played to.
    PlayFinished {
        /// The conference.
        conference: String,
        /// The play's id, as `POST …/play` answered.
        play: u64,
        /// The member it was played to, or `None` for everyone.
        member: Option<u64>,
    },
    /// The node began to drain: only callers of its own conferences are taken now.
    Draining {
        /// Calls up when it began.
        calls: usize,
    },
}

/// Why an operator's invitation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialRefusal {
    /// The bridge has no dial-out trunk.
    NoTrunk,
    /// No such extension.
    NoConference,
    /// The number is not one the dial-out policy allows (length, digits, prefixes).
    Number,
    /// The conference or the bridge used its calls for this hour.
    HourlyCap,
    /// Locked, full, or at the limit of invitations ringing at once.
    Busy,
}

/// Why an operator's move of a member was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveRefusal {
    /// No such member in the conference.
    NoMember,
    /// No such conference to go to.
    NoConference,
    /// The member is already there.
    Same,
    /// The conference to go to is locked.
    Locked,
    /// The conference to go to is full.
    Full,
}

/// Who asked for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// An operator, over REST.
    Api,
    /// A member, with the keypad.
    Keypad {
        /// The member who pressed the keys.
        member: u64,
    },
}

/// One live conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceInfo {
    /// The extension.
    pub conference: String,
    /// Members in.
    pub members: usize,
    /// Whether it is locked.
    pub locked: bool,
    /// Created on the fly (factory URI or `POST /conference/`), not provisioned.
    pub temporary: bool,
    /// The whole conference is being recorded (an operator started it).
    pub recording: bool,
}

/// One member of a live conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Member id (the call's id).
    pub id: u64,
    /// The caller's From URI.
    pub caller: String,
    /// Moderator or participant.
    pub moderator: bool,
    /// Kept out of the mix.
    pub muted: bool,
    /// Talking right now.
    pub talking: bool,
    /// Brought in with `*8` rather than dialling in.
    pub invited: bool,
    /// The leg's codec.
    pub codec: chorus_types::Codec,
    /// When the member entered.
    pub joined_at: Instant,
    /// The SIP transport of its dialog.
    pub transport: chorus_sip_proto::Transport,
    /// Its media is SRTP.
    pub encrypted: bool,
    /// Its volume both ways and whether it is deaf.
    pub hearing: super::Hearing,
}

/// Counters the driver can export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Messages dropped because they could not be parsed or answered.
    pub dropped: u64,
    /// Requests answered with 400.
    pub bad_requests: u64,
    /// Calls answered with 200.
    pub calls_answered: u64,
    /// Calls refused with a final error response.
    pub calls_rejected: u64,
    /// Callers turned away by a locked conference.
    pub refused_locked: u64,
    /// Callers turned away by a full conference.
    pub refused_full: u64,
    /// Callers hung up on after three wrong PINs.
    pub wrong_pin: u64,
    /// PIN attempts checked against the PINs (attempts from refused sources are not).
    pub pin_checks: u64,
    /// INVITEs refused: untrusted source, source refused for guessing, or too many
    /// callers waiting to get in.
    pub refused_untrusted: u64,
    /// INVITEs refused because the source guessed too many PINs.
    pub refused_guessing: u64,
    /// INVITEs refused because too many callers of the extension were not in yet.
    pub refused_pending: u64,
    /// Legs hung up because no RTP or RTCP came.
    pub media_timeouts: u64,
    /// `*8` refused by the dial-out policy.
    pub dialout_refused: u64,
    /// New calls shed with 503 while overloaded.
    pub shed: u64,
    /// Digest credentials that did not match.
    pub auth_failures: u64,
    /// Keypad commands carried out.
    pub keypad_commands: u64,
    /// Factory calls refused: too many temporary conferences, or created too fast.
    pub refused_adhoc: u64,
}
