//! Talk-off: speech in several voices and languages, and music, must never be taken for a
//! key press (fixtures/talkoff, made by fixtures/generate.sh with espeak-ng and sox).

use chorus_dtmf::InbandDetector;
use chorus_types::FRAME_SAMPLES;
use std::path::PathBuf;

#[test]
fn speech_and_music_give_no_digits() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/talkoff");
    let mut clips = 0;
    let mut seconds = 0.0;
    for entry in std::fs::read_dir(&dir).expect("talk-off fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "wav") {
            continue;
        }
        let mut reader = hound::WavReader::open(&path).expect("wav");
        assert_eq!(reader.spec().sample_rate, 8000, "{}", path.display());
        let samples: Vec<i16> = reader
            .samples::<i16>()
            .map(|s| s.expect("sample"))
            .collect();
        seconds += samples.len() as f64 / 8000.0;
        // Louder and quieter than recorded, as different phones would send it.
        for gain in [0.25, 1.0, 2.0] {
            let mut detector = InbandDetector::new();
            let mut found = String::new();
            for chunk in samples.chunks(FRAME_SAMPLES) {
                let mut frame = [0i16; FRAME_SAMPLES];
                for (f, &s) in frame.iter_mut().zip(chunk) {
                    *f = (f64::from(s) * gain).clamp(-32768.0, 32767.0) as i16;
                }
                if let Some(digit) = detector.process(&frame).digit {
                    found.push(digit);
                }
            }
            assert!(
                found.is_empty(),
                "{} at gain {gain} gave digits {found:?}",
                path.display()
            );
        }
        clips += 1;
    }
    assert!(
        clips >= 5 && seconds > 30.0,
        "talk-off set too small: {clips} clips, {seconds:.0} s"
    );
}
