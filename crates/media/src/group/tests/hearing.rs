//! Per-member volume and deafness: what a member says is turned up or down for everyone,
//! what it hears for it alone, and a deaf member hears nothing of the conference.

use super::*;

fn set(rig: &mut Rig, id: u64, input: i16, output: i16, deaf: bool) {
    rig.group.handle_command(MediaCommand::SetHearing {
        call: CallId(id),
        input_tenths_db: input,
        output_tenths_db: output,
        deaf,
    });
}

#[test]
fn volume_in_scales_a_talker_for_everyone_and_volume_out_one_listener_alone() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500"), (3, "500")]);
    for id in 1..=3 {
        join(&mut rig.group, CallId(id));
    }
    // Leg 1 alone talks; -6 dB on what it says: both listeners hear half.
    set(&mut rig, 1, -60, 0, false);
    let heard = rig.run(6, &[(1, 4000)]);
    assert!(
        near(heard[&CallId(2)], 2000),
        "2 hears {}",
        heard[&CallId(2)]
    );
    assert!(
        near(heard[&CallId(3)], 2000),
        "3 hears {}",
        heard[&CallId(3)]
    );
    // Back to 0 dB, and +6 dB on what leg 3 hears: only leg 3 hears it louder.
    set(&mut rig, 1, 0, 0, false);
    set(&mut rig, 3, 0, 60, false);
    let heard = rig.run(6, &[(1, 2000)]);
    assert!(
        near(heard[&CallId(2)], 2000),
        "2 hears {}",
        heard[&CallId(2)]
    );
    assert!(
        near(heard[&CallId(3)], 4000),
        "3 hears {}",
        heard[&CallId(3)]
    );
    // A talker with a gain is never forwarded (its packets would not carry it).
    set(&mut rig, 3, 0, 0, false);
    set(&mut rig, 1, 30, 0, false);
    let forwarded = rig.group.leg_stats(CallId(2)).expect("leg").forwarded;
    rig.run(6, &[(1, 4000)]);
    assert_eq!(
        rig.group.leg_stats(CallId(2)).expect("leg").forwarded,
        forwarded
    );
}

#[test]
fn a_deaf_member_hears_nothing_of_the_conference_but_its_own_prompts() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500")]);
    join(&mut rig.group, CallId(1));
    join(&mut rig.group, CallId(2));
    set(&mut rig, 2, 0, 0, true);
    let heard = rig.run(6, &[(1, 4000), (2, 1000)]);
    assert_eq!(heard[&CallId(2)], 0, "deaf 2 hears the talker");
    assert!(
        near(heard[&CallId(1)], 1000),
        "1 still hears the deaf member"
    );
    // Its own prompt still reaches it.
    rig.group.handle_command(MediaCommand::Play {
        call: CallId(2),
        clip: std::sync::Arc::from(vec![3000i16; FRAME_SAMPLES * 10]),
        id: 9,
    });
    let heard = rig.run(2, &[(1, 4000)]);
    assert!(
        near(heard[&CallId(2)], 3000),
        "2 hears {}",
        heard[&CallId(2)]
    );
    set(&mut rig, 2, 0, 0, false);
    let heard = rig.run(12, &[(1, 4000)]);
    assert!(
        near(heard[&CallId(2)], 4000),
        "undeaf 2 hears {}",
        heard[&CallId(2)]
    );
}
