//! G.711 tables, built at compile time.

/// Bit length of a positive value (0 for 0).
const fn bit_len(v: i32) -> i32 {
    32 - v.leading_zeros() as i32
}

/// µ-law code for a 14-bit signed sample (the 16-bit sample shifted right by 2).
const fn ulaw_from_14bit(x: i32) -> u8 {
    let (magnitude, mask) = if x < 0 { (-x, 0x7F) } else { (x, 0xFF) };
    let clipped = if magnitude > 8159 { 8159 } else { magnitude };
    // The bias moves every magnitude into [33, 8192], whose bit length (6..=14) names the
    // segment directly.
    let biased = clipped + 33;
    let segment = bit_len(biased) - 6;
    if segment >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mantissa = (biased >> (segment + 1)) & 0x0F;
    (((segment << 4) | mantissa) ^ mask) as u8
}

/// A-law code for a 13-bit signed sample (the 16-bit sample shifted right by 3).
const fn alaw_from_13bit(x: i32) -> u8 {
    let (magnitude, mask) = if x >= 0 { (x, 0xD5) } else { (-x - 1, 0x55) };
    // Segment 0 covers 0..=31; above that every doubling is one more segment.
    let segment = if magnitude < 32 {
        0
    } else {
        bit_len(magnitude) - 5
    };
    if segment >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let shift = if segment < 2 { 1 } else { segment };
    let mantissa = (magnitude >> shift) & 0x0F;
    (((segment << 4) | mantissa) ^ mask) as u8
}

const fn ulaw_decode(code: u8) -> i16 {
    let c = !code;
    let segment = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << segment) - 0x84;
    if c & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode(code: u8) -> i16 {
    let c = code ^ 0x55;
    let segment = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0F) as i32;
    let magnitude = if segment == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (segment - 1)
    };
    if c & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

static ULAW_ENCODE: [u8; 1 << 14] = {
    let mut table = [0u8; 1 << 14];
    let mut i = 0;
    while i < table.len() {
        table[i] = ulaw_from_14bit(i as i32 - (1 << 13));
        i += 1;
    }
    table
};

static ALAW_ENCODE: [u8; 1 << 13] = {
    let mut table = [0u8; 1 << 13];
    let mut i = 0;
    while i < table.len() {
        table[i] = alaw_from_13bit(i as i32 - (1 << 12));
        i += 1;
    }
    table
};

static ULAW_DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_decode(i as u8);
        i += 1;
    }
    table
};

static ALAW_DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_decode(i as u8);
        i += 1;
    }
    table
};

/// Encodes one sample to µ-law.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    ULAW_ENCODE[((sample >> 2) as i32 + (1 << 13)) as usize]
}

/// Encodes one sample to A-law.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    ALAW_ENCODE[((sample >> 3) as i32 + (1 << 12)) as usize]
}

/// Decodes one µ-law code.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Decodes one A-law code.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

#[cfg(test)]
mod tests {
    //! The reference: the classic public-domain G.711 code (Sun Microsystems, 1990s),
    //! transcribed step by step with its segment-end search tables.
    use super::*;

    const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];

    fn search(val: i32, table: &[i32; 8]) -> i32 {
        table.iter().position(|&end| val <= end).unwrap_or(8) as i32
    }

    fn ref_linear2alaw(pcm: i16) -> u8 {
        let mut pcm_val = (pcm >> 3) as i32;
        let mask;
        if pcm_val >= 0 {
            mask = 0xD5;
        } else {
            mask = 0x55;
            pcm_val = -pcm_val - 1;
        }
        let seg = search(pcm_val, &SEG_AEND);
        if seg >= 8 {
            return (0x7F ^ mask) as u8;
        }
        let mut aval = seg << 4;
        if seg < 2 {
            aval |= (pcm_val >> 1) & 0xF;
        } else {
            aval |= (pcm_val >> seg) & 0xF;
        }
        (aval ^ mask) as u8
    }

    fn ref_alaw2linear(a: u8) -> i16 {
        let a = (a ^ 0x55) as i32;
        let mut t = (a & 0xF) << 4;
        let seg = (a & 0x70) >> 4;
        match seg {
            0 => t += 8,
            1 => t += 0x108,
            _ => {
                t += 0x108;
                t <<= seg - 1;
            }
        }
        (if a & 0x80 != 0 { t } else { -t }) as i16
    }

    fn ref_linear2ulaw(pcm: i16) -> u8 {
        let mut pcm_val = (pcm >> 2) as i32;
        let mask;
        if pcm_val < 0 {
            pcm_val = -pcm_val;
            mask = 0x7F;
        } else {
            mask = 0xFF;
        }
        if pcm_val > 8159 {
            pcm_val = 8159;
        }
        pcm_val += 0x84 >> 2;
        let seg = search(pcm_val, &SEG_UEND);
        if seg >= 8 {
            return (0x7F ^ mask) as u8;
        }
        let uval = (seg << 4) | ((pcm_val >> (seg + 1)) & 0xF);
        (uval ^ mask) as u8
    }

    fn ref_ulaw2linear(u: u8) -> i16 {
        let u = (!u) as i32;
        let mut t = ((u & 0xF) << 3) + 0x84;
        t <<= (u & 0x70) >> 4;
        (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
    }

    #[test]
    fn ulaw_encoder_matches_reference_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_ulaw(s), ref_linear2ulaw(s), "sample {s}");
        }
    }

    #[test]
    fn alaw_encoder_matches_reference_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_alaw(s), ref_linear2alaw(s), "sample {s}");
        }
    }

    #[test]
    fn decoders_match_reference_for_every_code() {
        for c in 0..=255u8 {
            assert_eq!(ulaw_to_linear(c), ref_ulaw2linear(c), "µ-law code {c}");
            assert_eq!(alaw_to_linear(c), ref_alaw2linear(c), "A-law code {c}");
        }
    }

    #[test]
    fn decode_then_encode_is_identity_on_codes() {
        for c in 0..=255u8 {
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c);
            // µ-law has two zeros (0x7F and 0xFF); both decode to 0, which encodes as 0xFF.
            if c != 0x7F {
                assert_eq!(linear_to_ulaw(ulaw_to_linear(c)), c);
            }
        }
    }

    #[test]
    fn silence_codes() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
    }
}
