use super::*;

const RATE: usize = 16_000;
const FRAME: usize = RATE * FRAME_MS as usize / 1000;

/// A talker: noise bursts of 300 ms (words) at `speech_dbfs` RMS, with 200 ms pauses
/// carrying noise at `noise_dbfs` (or digital silence), for `seconds`.
fn talker(speech_dbfs: f32, noise_dbfs: Option<f32>, seconds: f32) -> Vec<i16> {
    talker_pausing(speech_dbfs, noise_dbfs, seconds, 200)
}

/// As [`talker`], with pauses of `pause_ms`.
fn talker_pausing(
    speech_dbfs: f32,
    noise_dbfs: Option<f32>,
    seconds: f32,
    pause_ms: usize,
) -> Vec<i16> {
    let mut seed: u32 = 12345;
    let mut uniform = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    };
    // A uniform variable on [-1, 1] has an RMS of 1/√3.
    let amplitude = |dbfs: f32| 32768.0 * db_to_gain(dbfs) * 3f32.sqrt();
    let n = (seconds * RATE as f32) as usize;
    (0..n)
        .map(|i| {
            let in_word = (i * 1000 / RATE) % (300 + pause_ms) < 300;
            let a = if in_word {
                amplitude(speech_dbfs)
            } else {
                noise_dbfs.map_or(0.0, amplitude)
            };
            (uniform() * a) as i16
        })
        .collect()
}

fn run(agc: &mut Agc, input: &[i16]) -> Vec<i16> {
    let mut out = input.to_vec();
    for frame in out.chunks_mut(FRAME) {
        agc.process(frame);
    }
    out
}

/// The active level (mean power of the 300 ms words) of the last `seconds`.
fn words_dbfs(samples: &[i16], seconds: f32) -> f32 {
    let start = samples.len() - (seconds * RATE as f32) as usize;
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (i, &s) in samples.iter().enumerate().skip(start) {
        // Skip each word's first 20 ms, where a gain taken off in the pause returns.
        let ms = (i * 1000 / RATE) % 500;
        if (20..300).contains(&ms) {
            sum += f64::from(s) * f64::from(s);
            n += 1;
        }
    }
    (10.0 * (sum / n as f64 / (32768.0 * 32768.0)).log10()) as f32
}

#[test]
fn a_talker_at_a_normal_level_passes_bit_exact() {
    for level in [-23.0, -19.0, -27.0] {
        let input = talker(level, Some(-60.0), 10.0);
        let mut agc = Agc::new();
        assert_eq!(run(&mut agc, &input), input, "{level} dBFS");
        assert!(agc.is_unity());
        let measured = agc.speech_level_dbfs().expect("a level");
        assert!((measured - level).abs() < 1.0, "measured {measured}");
    }
}

#[test]
fn a_quiet_talker_is_raised_to_within_3_db_of_the_target() {
    let input = talker(-36.0, None, 12.0);
    let mut agc = Agc::new();
    let out = run(&mut agc, &input);
    assert_eq!(agc.gain_db(), MAX_GAIN_DB);
    let heard = words_dbfs(&out, 3.0);
    assert!((heard - TARGET_DBFS).abs() <= 3.0, "heard at {heard} dBFS");
    assert!(!agc.is_unity());
}

#[test]
fn a_loud_talker_is_lowered() {
    let input = talker(-8.0, Some(-50.0), 10.0);
    let mut agc = Agc::new();
    let out = run(&mut agc, &input);
    assert_eq!(agc.gain_db(), -MAX_GAIN_DB);
    let heard = words_dbfs(&out, 3.0);
    assert!((heard - (-20.0)).abs() < 0.5, "heard at {heard} dBFS");
}

#[test]
fn a_steady_tone_never_moves_the_gain_even_after_silence() {
    let mut input = vec![0i16; RATE * 2];
    input.extend((0..RATE * 10).map(|i| {
        (10_000.0 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / RATE as f32).sin()) as i16
    }));
    let mut agc = Agc::new();
    assert_eq!(run(&mut agc, &input), input);
    assert_eq!(agc.gain_db(), 0.0);
}

#[test]
fn noise_between_words_is_not_raised() {
    // Words of 300 ms, pauses of 700 ms: one second a cycle.
    let input = talker_pausing(-36.0, Some(-62.0), 16.0, 700);
    let mut agc = Agc::new();
    let out = run(&mut agc, &input);
    assert_eq!(agc.gain_db(), MAX_GAIN_DB);
    // The last pause but one: from PAUSE_MS (and the frame that ramps the boost off)
    // after its start to its end, the noise is as it came.
    let second = |s: f32| (s * RATE as f32) as usize;
    let quiet = second(14.3 + PAUSE_MS as f32 / 1000.0 + 0.04)..second(15.0);
    assert_eq!(out[quiet.clone()], input[quiet]);
    // While the word after it is raised by 12 dB.
    let word = second(15.1)..second(15.2);
    let sum = |x: &[i16]| x.iter().map(|&s| f64::from(s).abs()).sum::<f64>();
    let ratio = sum(&out[word.clone()]) / sum(&input[word]);
    assert!((ratio - 3.98).abs() < 0.1, "raised {ratio}");
}

#[test]
fn the_gain_moves_slowly_and_without_steps() {
    let input = talker(-36.0, None, 12.0);
    let mut agc = Agc::new();
    let mut out = input.clone();
    let mut last_gain = 0.0f32;
    for frame in out.chunks_mut(FRAME) {
        agc.process(frame);
        let moved = (agc.gain_db() - last_gain).abs();
        assert!(
            moved <= RISE_DB_PER_S * FRAME_MS as f32 / 1000.0 + 1e-4,
            "{moved}"
        );
        last_gain = agc.gain_db();
    }
    // Sample to sample, the applied gain changes by a fraction of a percent at most:
    // check a word onset after a pause, where the boost returns.
    let onset = RATE * 11;
    for i in onset..onset + FRAME {
        if input[i].unsigned_abs() > 500 {
            let g = f32::from(out[i]) / f32::from(input[i]);
            assert!((1.0..=4.0).contains(&g), "gain {g} at {i}");
        }
    }
}

proptest::proptest! {
    #[test]
    fn any_input_is_processed_without_panic(
        frames in proptest::collection::vec(proptest::collection::vec(proptest::num::i16::ANY, 160), 1..200)
    ) {
        let mut agc = Agc::new();
        for mut frame in frames {
            agc.process(&mut frame);
            proptest::prop_assert!(agc.gain_db().abs() <= MAX_GAIN_DB);
        }
    }
}

#[test]
fn stated_levels_are_measured_like_the_audio() {
    // A quiet talker known only by the levels its packets state: the gain starts to
    // move, so its frames are then decoded and raised.
    let input = talker(-36.0, None, 6.0);
    let mut agc = Agc::new();
    for frame in input.chunks(FRAME) {
        agc.observe(frame_power(frame).0);
    }
    assert!(agc.gain_db() > 0.0 && !agc.is_unity());
    // One at a normal level stays untouched.
    let input = talker(-23.0, None, 6.0);
    let mut agc = Agc::new();
    for frame in input.chunks(FRAME) {
        agc.observe(frame_power(frame).0.round());
    }
    assert!(agc.is_unity());
    assert!((agc.speech_level_dbfs().expect("level") + 23.0).abs() < 1.0);
}
