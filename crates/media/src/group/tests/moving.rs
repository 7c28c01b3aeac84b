//! A leg moved to another conference: out of the first mix, into the second once joined.

use super::*;

#[test]
fn a_moved_leg_leaves_one_mix_and_joins_another_with_its_stream_unbroken() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500"), (3, "501")]);
    for id in 1..=3 {
        join(&mut rig.group, CallId(id));
    }
    let talking = [(1, 4000), (2, 2000), (3, 8000)];
    let heard = rig.run(5, &talking);
    assert!(near(heard[&CallId(3)], 0), "alone in 501");
    let before = rig.group.leg_stats(CallId(3)).expect("leg").sent;

    rig.group.handle_command(MediaCommand::Move {
        call: CallId(3),
        to: "500".to_owned(),
    });
    join(&mut rig.group, CallId(3));
    let heard = rig.run(5, &talking);
    assert!(near(heard[&CallId(3)], 6000), "hears 500: {heard:?}");
    assert!(near(heard[&CallId(1)], 10000), "is heard in 500: {heard:?}");
    assert!(rig.group.conference_rate("501").is_none(), "501 emptied");
    // The same stream: its packets kept counting.
    let after = rig.group.leg_stats(CallId(3)).expect("leg").sent;
    assert!(after >= before + 5, "{before} -> {after}");
}

#[test]
fn a_leg_detached_here_is_attached_on_another_group() {
    let mut rig = Rig::new(&[(1, "500"), (2, "501")]);
    join(&mut rig.group, CallId(1));
    join(&mut rig.group, CallId(2));
    rig.run(3, &[(1, 3000), (2, 3000)]);
    let moving = rig.group.detach_leg(CallId(2)).expect("detached");
    assert!(rig.group.leg_stats(CallId(2)).is_none());
    let mut other = MediaGroup::new(rig.start);
    other.add_leg(CallId(5), "500", params(7100), 5);
    other.attach_leg(CallId(2), moving, "500");
    assert!(other.leg_stats(CallId(2)).is_some());
    assert_eq!(
        rig.group.detach_leg(CallId(2)).map(|_| ()),
        None,
        "gone here"
    );
}
