//! Recording a whole conference: the full mix at 16 kHz, one frame per tick.

use super::*;

fn recorded(group: &mut MediaGroup) -> Vec<(String, Option<Vec<i16>>)> {
    std::iter::from_fn(|| group.poll_mix_recorded()).collect()
}

#[test]
fn a_recorded_conference_gives_its_full_mix_each_tick_until_stopped_or_empty() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500"), (3, "501")]);
    for id in 1..=3 {
        join(&mut rig.group, CallId(id));
    }
    let talking = [(1, 4000), (2, 2000), (3, 8000)];
    rig.run(5, &talking);
    assert!(recorded(&mut rig.group).is_empty(), "nothing before start");

    rig.group.handle_command(MediaCommand::RecordConference {
        conference: "500".to_owned(),
        on: true,
    });
    let mut frames = Vec::new();
    for _ in 0..20 {
        rig.tick(&talking);
        frames.extend(recorded(&mut rig.group));
    }
    assert_eq!(frames.len(), 20, "one frame a tick");
    assert!(frames.iter().all(|(conf, _)| conf == "500"), "only 500");
    let last = frames.last().and_then(|(_, f)| f.clone()).expect("a frame");
    assert_eq!(last.len(), MIX_RECORDING_RATE.frame_samples());
    // Both voices, as a member who says nothing hears them (μ-law rounds a little).
    assert!(last.iter().all(|&s| near(s, 6000)), "{:?}", &last[..8]);

    rig.group.handle_command(MediaCommand::RecordConference {
        conference: "500".to_owned(),
        on: false,
    });
    rig.run(3, &talking);
    assert!(recorded(&mut rig.group).is_empty(), "nothing after stop");

    // Recorded again, then emptied: the recording says it ended.
    rig.group.handle_command(MediaCommand::RecordConference {
        conference: "500".to_owned(),
        on: true,
    });
    rig.tick(&talking);
    rig.group.remove_leg(CallId(1));
    rig.group.remove_leg(CallId(2));
    let tail = recorded(&mut rig.group);
    assert_eq!(
        tail.last(),
        Some(&("500".to_owned(), None)),
        "{}",
        tail.len()
    );
}

#[test]
fn a_lone_talker_forwarded_to_everyone_is_still_in_the_recording() {
    let mut rig = Rig::new(&[(1, "500"), (2, "500")]);
    join(&mut rig.group, CallId(1));
    join(&mut rig.group, CallId(2));
    rig.group.handle_command(MediaCommand::RecordConference {
        conference: "500".to_owned(),
        on: true,
    });
    let mut last = None;
    for _ in 0..20 {
        rig.tick(&[(1, 5000)]);
        last = recorded(&mut rig.group).pop().and_then(|(_, f)| f);
    }
    let last = last.expect("a frame");
    assert!(last.iter().all(|&s| near(s, 5000)), "{:?}", &last[..8]);
}
