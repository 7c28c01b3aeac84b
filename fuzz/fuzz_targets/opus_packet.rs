//! Opus payloads straight into libopus through the binding: the packet inspection, a decode,
//! an FEC decode and concealment, at the rates the bridge decodes at. Nothing may crash or
//! write past the buffer, and a sample count given must fit the largest packet.
#![no_main]
use chorus_opus::{Decoder, packet_samples};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for rate in [8_000, 16_000, 48_000] {
        let Ok(mut decoder) = Decoder::new(rate) else { return };
        let mut pcm = vec![0i16; rate as usize / 1000 * 120];
        if let Ok(n) = packet_samples(data, rate) {
            assert!(n <= pcm.len());
        }
        if let Ok(n) = decoder.decode(data, &mut pcm, false) {
            assert!(n <= pcm.len());
        }
        let frame = rate as usize / 50;
        let _ = decoder.decode(data, &mut pcm[..frame], true);
        let _ = decoder.decode(&[], &mut pcm[..frame], false);
    }
});
