//! Operators set how loud a member is heard and hears, and whether it hears the
//! conference at all (FreeSWITCH's volume_in/volume_out and deaf).

use super::*;
use crate::MediaCommand;

/// A member's volume and deafness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hearing {
    /// Gain on what it says, in tenths of a dB.
    pub input_tenths_db: i16,
    /// Gain on what it hears, in tenths of a dB.
    pub output_tenths_db: i16,
    /// Hears nothing of the conference (its own prompts still).
    pub deaf: bool,
}

/// What an operator changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HearingChange {
    /// New gains; `None` keeps one as it is.
    Volume {
        /// On what it says, tenths of a dB.
        input_tenths_db: Option<i16>,
        /// On what it hears, tenths of a dB.
        output_tenths_db: Option<i16>,
    },
    /// Deaf or not.
    Deaf(bool),
}

/// The gains an operator may set, in tenths of a dB: down to -30 dB, up to +12 dB.
pub const VOLUME_RANGE: std::ops::RangeInclusive<i16> = -300..=120;

impl Engine {
    /// Changes a member's hearing; `false` when no such member is in the conference. A
    /// change is carried out on its leg and told to operators; gains outside
    /// [`VOLUME_RANGE`] are brought into it.
    pub fn set_member_hearing(
        &mut self,
        conference: &str,
        member: u64,
        change: HearingChange,
    ) -> bool {
        let present = self
            .conferences
            .get(conference)
            .is_some_and(|c| c.member(member).is_some());
        let Some(membership) = self
            .calls
            .get_mut(&CallId(member))
            .and_then(|call| call.member.as_mut())
            .filter(|_| present)
        else {
            return false;
        };
        let before = membership.hearing;
        let clamp = |v: i16| v.clamp(*VOLUME_RANGE.start(), *VOLUME_RANGE.end());
        match change {
            HearingChange::Volume {
                input_tenths_db,
                output_tenths_db,
            } => {
                if let Some(v) = input_tenths_db {
                    membership.hearing.input_tenths_db = clamp(v);
                }
                if let Some(v) = output_tenths_db {
                    membership.hearing.output_tenths_db = clamp(v);
                }
            }
            HearingChange::Deaf(deaf) => membership.hearing.deaf = deaf,
        }
        let hearing = membership.hearing;
        if hearing != before {
            self.media(MediaCommand::SetHearing {
                call: CallId(member),
                input_tenths_db: hearing.input_tenths_db,
                output_tenths_db: hearing.output_tenths_db,
                deaf: hearing.deaf,
            });
            self.notify(Notification::Hearing {
                conference: conference.to_owned(),
                member,
                hearing,
            });
            self.action(conference, "hearing", Some(member), super::Actor::Api);
        }
        true
    }
}
