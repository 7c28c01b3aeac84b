use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// RFC 3711 B.3's master key and salt, which libsrtp's validation vectors also use.
fn rfc_key(profile: SrtpProfile) -> SrtpKey {
    let material = hex("E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6");
    SrtpKey::new(profile, &material).expect("key")
}

/// libsrtp's AEAD_AES_128_GCM test key: 00..0f with salt a0..ab.
fn gcm_key() -> SrtpKey {
    let material = hex("000102030405060708090a0b0c0d0e0f a0a1a2a3a4a5a6a7a8a9aaab");
    SrtpKey::new(SrtpProfile::AeadAes128Gcm, &material).expect("key")
}

const RTP_PLAIN: &str = "800f1234decafbadcafebabe abababababababababababababababab";
const RTCP_PLAIN: &str = "81c8000bcafebabe abababababababababababababababab";

#[test]
fn session_keys_derive_as_rfc_3711_b3_lists_them() {
    let key = rfc_key(SrtpProfile::AesCm128HmacSha1_80);
    let master = Aes128::new(&key.master_key().into());
    let salt = key.master_salt();
    let mut cipher_key = [0u8; 16];
    derive(&master, &salt, 0, &mut cipher_key);
    assert_eq!(cipher_key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    let mut session_salt = [0u8; 14];
    derive(&master, &salt, 2, &mut session_salt);
    assert_eq!(session_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    let mut auth = [0u8; 20];
    derive(&master, &salt, 1, &mut auth);
    assert_eq!(
        auth.to_vec(),
        hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    );
}

#[test]
fn the_aes_cm_keystream_is_rfc_3711_b2s() {
    let cipher = Aes128::new(
        &<[u8; 16]>::try_from(hex("2B7E151628AED2A6ABF7158809CF4F3C"))
            .expect("16")
            .into(),
    );
    let salt = <[u8; 14]>::try_from(hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD")).expect("14");
    let mut stream = [0u8; 32];
    SessionKeys::cm_apply(&cipher, &salt, 0, 0, &mut stream);
    assert_eq!(
        stream.to_vec(),
        hex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB")
    );
}

/// Protects the plain packet, compares with the known answer, and reads it back.
fn known_answer(key: &SrtpKey, rtp: &str, srtcp: &str) {
    let mut sender = SrtpContext::new(key);
    let mut buf = hex(RTP_PLAIN);
    sender.protect_rtp(&mut buf, 0).expect("protect");
    assert_eq!(buf, hex(rtp), "{:?}", key.profile());
    let mut receiver = SrtpContext::new(key);
    let mut out = Vec::new();
    receiver.unprotect_rtp(&buf, &mut out).expect("unprotect");
    assert_eq!(out, hex(RTP_PLAIN));

    // libsrtp's vectors are its first SRTCP packet, which it numbers 1.
    let mut spare = hex(RTCP_PLAIN);
    sender.protect_rtcp(&mut spare, 0).expect("protect");
    let mut buf = hex(RTCP_PLAIN);
    sender.protect_rtcp(&mut buf, 0).expect("protect");
    assert_eq!(buf, hex(srtcp), "{:?}", key.profile());
    receiver.unprotect_rtcp(&buf, &mut out).expect("unprotect");
    assert_eq!(out, hex(RTCP_PLAIN));
}

#[test]
fn packets_match_libsrtps_validation_vectors() {
    known_answer(
        &rfc_key(SrtpProfile::AesCm128HmacSha1_80),
        "800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb",
        "81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798",
    );
    known_answer(
        &rfc_key(SrtpProfile::AesCm128HmacSha1_32),
        "800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc",
        "81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798",
    );
    known_answer(
        &gcm_key(),
        "800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06e d2976826f796b201df3131a127e8a392",
        "81c8000bcafebabe c98b8b5df0392a55852b6c21ac8e7025 c52c6fbea2b3b446ea31123ba88ce61e 80000001",
    );
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(0xd5, 160));
    p
}

fn protected(sender: &mut SrtpContext, seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = rtp(seq, ssrc);
    sender.protect_rtp(&mut p, 0).expect("protect");
    p
}

#[test]
fn tampered_replayed_and_foreign_packets_are_refused_and_change_nothing() {
    for profile in SrtpProfile::ALL {
        let key = if profile == SrtpProfile::AeadAes128Gcm {
            gcm_key()
        } else {
            rfc_key(profile)
        };
        let mut sender = SrtpContext::new(&key);
        let mut receiver = SrtpContext::new(&key);
        let mut out = Vec::new();
        let first = protected(&mut sender, 100, 7);
        receiver.unprotect_rtp(&first, &mut out).expect("first");
        assert_eq!(out, rtp(100, 7));
        // Replayed.
        assert_eq!(
            receiver.unprotect_rtp(&first, &mut out),
            Err(SrtpError::Replayed)
        );
        // A flipped bit anywhere: in the header, the payload or the tag.
        let second = protected(&mut sender, 101, 7);
        for at in [2, 20, second.len() - 1] {
            let mut bad = second.clone();
            bad[at] ^= 0x01;
            assert_eq!(
                receiver.unprotect_rtp(&bad, &mut out),
                Err(SrtpError::AuthFailed),
                "{profile:?} byte {at}"
            );
        }
        // The forgeries moved nothing: the real one is still new.
        receiver.unprotect_rtp(&second, &mut out).expect("second");
        // Under another key.
        let mut stranger = SrtpContext::new(
            &SrtpKey::new(profile, &vec![9; profile.key_material_len()]).expect("key"),
        );
        let foreign = protected(&mut stranger, 102, 7);
        assert_eq!(
            receiver.unprotect_rtp(&foreign, &mut out),
            Err(SrtpError::AuthFailed)
        );
        // Too short for a header and tag, or not RTP.
        assert_eq!(
            receiver.unprotect_rtp(&[0x80; 8], &mut out),
            Err(SrtpError::Malformed)
        );
        assert_eq!(
            receiver.unprotect_rtp(&[0x00; 40], &mut out),
            Err(SrtpError::Malformed)
        );
        assert_eq!(
            receiver.unprotect_rtcp(&[0x80; 8], &mut out),
            Err(SrtpError::Malformed)
        );

        // SRTCP: tampered and replayed.
        let mut report = hex(RTCP_PLAIN);
        sender.protect_rtcp(&mut report, 0).expect("protect");
        let mut bad = report.clone();
        bad[10] ^= 0x80;
        assert_eq!(
            receiver.unprotect_rtcp(&bad, &mut out),
            Err(SrtpError::AuthFailed)
        );
        receiver.unprotect_rtcp(&report, &mut out).expect("report");
        assert_eq!(out, hex(RTCP_PLAIN));
        assert_eq!(
            receiver.unprotect_rtcp(&report, &mut out),
            Err(SrtpError::Replayed)
        );
    }
}

#[test]
fn reordering_inside_the_window_passes_and_older_is_refused() {
    let key = rfc_key(SrtpProfile::AesCm128HmacSha1_80);
    let mut sender = SrtpContext::new(&key);
    let mut receiver = SrtpContext::new(&key);
    let mut out = Vec::new();
    let packets: Vec<_> = (0..300u16).map(|s| protected(&mut sender, s, 1)).collect();
    receiver.unprotect_rtp(&packets[0], &mut out).expect("0");
    receiver
        .unprotect_rtp(&packets[200], &mut out)
        .expect("200");
    // Late but inside the window of 128.
    receiver
        .unprotect_rtp(&packets[150], &mut out)
        .expect("150");
    assert_eq!(
        receiver.unprotect_rtp(&packets[150], &mut out),
        Err(SrtpError::Replayed)
    );
    // Older than the window: refused even though never seen.
    assert_eq!(
        receiver.unprotect_rtp(&packets[50], &mut out),
        Err(SrtpError::Replayed)
    );
    receiver
        .unprotect_rtp(&packets[201], &mut out)
        .expect("201");
}

#[test]
fn the_rollover_counter_follows_the_sequence_across_its_wrap() {
    let key = rfc_key(SrtpProfile::AesCm128HmacSha1_80);
    let mut sender = SrtpContext::new(&key);
    let mut receiver = SrtpContext::new(&key);
    let mut out = Vec::new();
    let seqs = [65534u16, 65535, 0, 1, 2];
    let packets: Vec<_> = seqs
        .iter()
        .map(|&s| protected(&mut sender, s, 0x1122_3344))
        .collect();
    // Received out of order across the wrap, as libsrtp's own test does.
    for i in [0, 2, 4, 3, 1] {
        receiver
            .unprotect_rtp(&packets[i], &mut out)
            .expect("across the wrap");
        assert_eq!(out, rtp(seqs[i], 0x1122_3344));
    }
    // A whole second cycle later the counter is 2 on both sides.
    for seq in (3..=65535u16).chain(0..=5).step_by(1000) {
        let p = protected(&mut sender, seq, 0x1122_3344);
        receiver.unprotect_rtp(&p, &mut out).expect("second cycle");
    }
}

#[test]
fn the_stream_table_is_bounded() {
    let key = rfc_key(SrtpProfile::AesCm128HmacSha1_80);
    let mut sender = SrtpContext::new(&key);
    let mut receiver = SrtpContext::new(&key);
    let mut out = Vec::new();
    for ssrc in 0..100 {
        let p = protected(&mut sender, 1, ssrc);
        receiver.unprotect_rtp(&p, &mut out).expect("stream");
    }
    assert_eq!(receiver.rtp_streams.streams.len(), MAX_STREAMS);
    assert_eq!(sender.rtp_streams.streams.len(), MAX_STREAMS);
}

#[test]
fn keys_stay_out_of_debug_output() {
    let key = rfc_key(SrtpProfile::AesCm128HmacSha1_80);
    let shown = format!("{key:?} {:?}", SrtpContext::new(&key));
    assert!(
        !shown.contains("225") && !shown.to_lowercase().contains("e1f9"),
        "{shown}"
    );
    assert!(shown.contains("AesCm128HmacSha1_80"));
}

#[test]
fn profiles_are_named_as_rfc_4568_and_7714_name_them() {
    for profile in SrtpProfile::ALL {
        assert_eq!(SrtpProfile::from_name(profile.name()), Some(profile));
    }
    assert_eq!(SrtpProfile::from_name("F8_128_HMAC_SHA1_80"), None);
    assert!(SrtpKey::new(SrtpProfile::AesCm128HmacSha1_80, &[0; 29]).is_none());
}

proptest::proptest! {
    #[test]
    fn any_input_is_refused_or_read_never_a_panic(data: Vec<u8>) {
        let key = rfc_key(SrtpProfile::AesCm128HmacSha1_80);
        let mut receiver = SrtpContext::new(&key);
        let mut gcm = SrtpContext::new(&gcm_key());
        let mut out = Vec::new();
        let _ = receiver.unprotect_rtp(&data, &mut out);
        let _ = receiver.unprotect_rtcp(&data, &mut out);
        let _ = gcm.unprotect_rtp(&data, &mut out);
        let _ = gcm.unprotect_rtcp(&data, &mut out);
        let mut buf = data.clone();
        let _ = receiver.protect_rtp(&mut buf, 0);
        let mut buf = data;
        let _ = gcm.protect_rtcp(&mut buf, 0);
    }
}
