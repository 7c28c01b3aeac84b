//! Voice processing on the media path: a quiet talker raised by gain control goes
//! through the mix, one at a normal level is still forwarded untouched.

use super::*;
use chorus_types::VoiceProcessing;

/// Words of 300 ms at `level` and pauses of 200 ms, from leg 1, for `ticks`; returns the
/// loudest leg 2 heard in the last word.
fn talk(rig: &mut Rig, level: i16, ticks: usize) -> i16 {
    let mut loudest = 0;
    for t in 0..ticks {
        let in_word = t % 25 < 15;
        let heard = rig.tick(&[(1, if in_word { level } else { 0 })]);
        if in_word && t + 25 >= ticks {
            loudest = loudest.max(heard.get(&CallId(2)).copied().unwrap_or(0));
        }
    }
    loudest
}

#[test]
fn gain_control_raises_a_quiet_talker_through_the_mix_and_forwards_a_normal_one() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500")]);
    join(&mut rig.group, CallId(1));
    join(&mut rig.group, CallId(2));
    for id in 1..=2 {
        rig.group.handle_command(MediaCommand::SetVoice {
            call: CallId(id),
            processing: VoiceProcessing::default(),
        });
    }
    // A talker at about -23 dBFS: nothing to do, its packets reach leg 2 as they came.
    let forwarded = rig.group.leg_stats(CallId(2)).expect("leg").forwarded;
    let heard = talk(&mut rig, 2300, 400);
    assert!(near(heard, 2300), "heard {heard}");
    let now_forwarded = rig.group.leg_stats(CallId(2)).expect("leg").forwarded;
    assert!(now_forwarded > forwarded + 200, "forwarded {now_forwarded}");
    // A new, quiet talker (-38 dBFS): after it was measured, it is heard 12 dB louder,
    // and none of its packets are forwarded (they do not carry the gain).
    rig.group.handle_command(MediaCommand::SetVoice {
        call: CallId(1),
        processing: VoiceProcessing::OFF,
    });
    rig.group.handle_command(MediaCommand::SetVoice {
        call: CallId(1),
        processing: VoiceProcessing::default(),
    });
    talk(&mut rig, 400, 300);
    let forwarded = rig.group.leg_stats(CallId(2)).expect("leg").forwarded;
    let heard = talk(&mut rig, 400, 100);
    assert!(
        (i32::from(heard) - 1592).abs() < 100,
        "heard {heard}, want 400 raised by 12 dB"
    );
    assert_eq!(
        rig.group.leg_stats(CallId(2)).expect("leg").forwarded,
        forwarded
    );
    // Turned off, the talker is heard as it speaks again, forwarded.
    rig.group.handle_command(MediaCommand::SetVoice {
        call: CallId(1),
        processing: VoiceProcessing::OFF,
    });
    let heard = talk(&mut rig, 400, 50);
    assert!(near(heard, 400), "heard {heard}");
    assert!(rig.group.leg_stats(CallId(2)).expect("leg").forwarded > forwarded);
}

#[test]
fn suppression_quiets_a_steady_noise_and_never_forwards() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500")]);
    join(&mut rig.group, CallId(1));
    join(&mut rig.group, CallId(2));
    rig.group.handle_command(MediaCommand::SetVoice {
        call: CallId(1),
        processing: VoiceProcessing {
            auto_gain: false,
            noise_suppression: true,
        },
    });
    let forwarded = rig.group.leg_stats(CallId(2)).expect("leg").forwarded;
    // A constant level is no voice: after a few seconds it is lowered a long way.
    let heard = rig.run(200, &[(1, 3000)]);
    let heard = heard.get(&CallId(2)).copied().unwrap_or(0);
    assert!(heard.abs() < 1000, "heard {heard}");
    assert_eq!(
        rig.group.leg_stats(CallId(2)).expect("leg").forwarded,
        forwarded
    );
}
