//! Gain control and noise suppression, scored with the same phones and PESQ: a quiet
//! talker and a noisy one, each heard through a conference with the processing on and
//! through one with it off (both set over REST on one bridge).

use super::*;
use common::http;

/// The speech level gain control aims at (`chorus_mixer::agc::TARGET_DBFS`).
const TARGET_DBFS: f64 = -23.0;
/// Silence between the two sayings of the clip: the recording is cut in it.
const GAP_SECS: f64 = 1.5;

/// The active speech level of `samples` (±1 full scale) in dBFS: the mean power of the
/// 20 ms frames within 30 dB of the loudest (ITU-T P.56's idea, in frames).
fn active_level_dbfs(samples: &[f64], rate: u32) -> f64 {
    let n = rate as usize / 50;
    let powers: Vec<f64> = samples
        .chunks_exact(n)
        .map(|f| f.iter().map(|s| s * s).sum::<f64>() / n as f64)
        .collect();
    let loudest = powers.iter().copied().fold(0.0, f64::max);
    let active: Vec<f64> = powers
        .into_iter()
        .filter(|&p| p > 0.0 && p >= loudest / 1000.0)
        .collect();
    10.0 * (active.iter().sum::<f64>() / active.len().max(1) as f64).log10()
}

fn scaled(samples: &[i16], gain_db: f64) -> Vec<i16> {
    let g = 10f64.powf(gain_db / 20.0);
    samples
        .iter()
        .map(|&s| (f64::from(s) * g).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

fn as_unit(samples: &[i16]) -> Vec<f64> {
    samples.iter().map(|&s| f64::from(s) / 32768.0).collect()
}

/// The clip at `level_dbfs` active speech level, said twice: lead, clip, gap, clip.
fn said_twice(dir: &Path, rate: u32, level_dbfs: f64) -> PathBuf {
    let clip = clip();
    let gain = level_dbfs - active_level_dbfs(&as_unit(&clip), 16000);
    let speech = resample(&scaled(&clip, gain), 16000, rate);
    let mut samples = vec![0i16; (LEAD_SECS * f64::from(rate)) as usize];
    samples.extend_from_slice(&speech);
    samples.resize(samples.len() + (GAP_SECS * f64::from(rate)) as usize, 0);
    samples.extend_from_slice(&speech);
    samples.resize((LONG_CALL_SECS as usize + 3) * rate as usize, 0);
    let path = dir.join(format!("quiet-{rate}.wav"));
    write_wav(&path, rate, &samples);
    path
}

/// The clip with white noise `snr_db` under its active speech level, the noise running
/// from the call's start to its end.
fn noisy(dir: &Path, rate: u32, snr_db: f64) -> PathBuf {
    let speech = resample(&clip(), 16000, rate);
    let level = active_level_dbfs(&as_unit(&speech), rate);
    let total = (CALL_SECS as usize + 3) * rate as usize;
    let lead = (LEAD_SECS * f64::from(rate)) as usize;
    let mut samples = vec![0i16; lead];
    samples.extend_from_slice(&speech);
    samples.resize(total, 0);
    // Gaussian noise (Box-Muller on a fixed seed): RMS `level - snr_db`.
    let rms = 32768.0 * 10f64.powf((level - snr_db) / 20.0);
    let mut rng = fastrand::Rng::with_seed(7);
    for pair in samples.chunks_mut(2) {
        let (u1, u2) = (rng.f64().max(1e-12), rng.f64());
        let r = (-2.0 * u1.ln()).sqrt() * rms;
        let theta = 2.0 * std::f64::consts::PI * u2;
        for (s, n) in pair.iter_mut().zip([r * theta.cos(), r * theta.sin()]) {
            *s = (f64::from(*s) + n).round().clamp(-32768.0, 32767.0) as i16;
        }
    }
    let path = dir.join(format!("noisy-{rate}.wav"));
    write_wav(&path, rate, &samples);
    path
}

/// PUTs `body` on conference `extension`; returns what GET then shows.
fn configure(bridge: &Bridge, extension: &str, body: &str) -> serde_json::Value {
    let path = format!("/extension/{extension}/conference/");
    let (status, _) = http(bridge.http_port(), "PUT", &path, body);
    assert!(
        status == 200 || status == 201,
        "PUT {path} {body}: {status}"
    );
    http(bridge.http_port(), "GET", &path, "").1
}

/// What the listener heard of the second saying (the first is where gain control
/// learns the talker).
fn second_saying(heard: &(Vec<f64>, u32)) -> (Vec<f64>, u32) {
    let (samples, rate) = heard;
    // The listener dialled 0.3 s before the speaker, whose file starts at its answer.
    let cut = 0.3 + LEAD_SECS + clip().len() as f64 / 16000.0 + GAP_SECS / 2.0;
    let from = ((cut * f64::from(*rate)) as usize).min(samples.len());
    (samples[from..].to_vec(), *rate)
}

#[test]
fn a_quiet_talker_is_raised_to_the_target_and_scores_no_lower() {
    let _alone = alone();
    let dir = scratch("pesq-agc");
    // Gain control is on by default; conference 501 turns it off.
    let bridge = Bridge::start(&dir, 7600, (28600, 28699), None, &[]);
    let off = configure(&bridge, "501", r#"{"auto_gain": false}"#);
    assert_eq!(off["auto_gain"], false);
    let on = configure(&bridge, "500", "{}");
    assert_eq!(
        on["auto_gain"],
        serde_json::Value::Null,
        "500 follows the bridge"
    );
    // A softphone with a quiet microphone (Opus, 14 dB under a normal level) heard by a
    // desk phone (G.711): the call goes through the mix either way, so the scores
    // compare like for like. (Opus to Opus would be forwarded untouched without gain
    // control; G.722 is not used here because its encoder alone scores lower on a louder
    // input that already went through G.722 once: 2.86 against 2.93, measured offline.)
    let (speaker, listener) = (Voice::Opus, Voice::Pcmu);
    let mut results = Vec::new();
    for (extension, name) in [("500", "agc-on"), ("501", "agc-off")] {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let source = said_twice(&dir, speaker.source_rate(), -36.0);
        let call = Call {
            sip: 7600,
            extension,
            speaker,
            listener,
            source: &source,
            secs: LONG_CALL_SECS,
        };
        let heard = second_saying(&conference_call_to(&dir, &call, None));
        let level = active_level_dbfs(&heard.0, heard.1);
        let score = pesq(&dir, name, &heard, false);
        eprintln!("{name}: heard at {level:.1} dBFS, PESQ {score:.3}");
        results.push((level, score));
    }
    let [(on_level, on_score), (off_level, off_score)] = results[..] else {
        unreachable!()
    };
    assert!(
        (on_level - TARGET_DBFS).abs() <= 3.0,
        "with gain control the quiet talker is heard at {on_level:.1} dBFS"
    );
    assert!(
        (off_level + 36.0).abs() <= 1.5,
        "without it, at {off_level:.1} dBFS"
    );
    assert!(
        on_score >= off_score,
        "PESQ {on_score:.3} with gain control, {off_score:.3} without"
    );
}

#[test]
fn noise_suppression_lifts_a_noisy_opus_talker_by_at_least_three_tenths() {
    let _alone = alone();
    let dir = scratch("pesq-denoise");
    // Suppression is off by default; conference 502 turns it on.
    let bridge = Bridge::start(&dir, 7700, (28700, 28799), None, &[]);
    let on = configure(&bridge, "502", r#"{"noise_suppression": true}"#);
    assert_eq!(on["noise_suppression"], true);
    let voice = Voice::Opus;
    let mut scores = Vec::new();
    for (extension, name) in [("502", "denoise-on"), ("500", "denoise-off")] {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let source = noisy(&dir, voice.source_rate(), 10.0);
        let call = Call {
            sip: 7700,
            extension,
            speaker: voice,
            listener: voice,
            source: &source,
            secs: CALL_SECS,
        };
        let heard = conference_call_to(&dir, &call, None);
        scores.push(pesq(&dir, name, &heard, true));
    }
    let (on, off) = (scores[0], scores[1]);
    eprintln!("white noise at 10 dB SNR, Opus: PESQ {on:.3} suppressed, {off:.3} not");
    assert!(
        on >= off + 0.3,
        "PESQ {on:.3} with suppression, {off:.3} without"
    );
}
