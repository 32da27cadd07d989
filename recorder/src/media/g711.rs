//! G.711 µ-law and A-law expansion to 16-bit linear PCM (ITU-T G.711).

/// Expands one µ-law byte.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    ULAW[usize::from(byte)]
}

/// Expands one A-law byte.
pub fn alaw_to_linear(byte: u8) -> i16 {
    ALAW[usize::from(byte)]
}

const fn ulaw(byte: u8) -> i16 {
    let u = !byte;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0f) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let exponent = ((a >> 4) & 0x07) as i32;
    let mantissa = (a & 0x0f) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn table(law: Law) -> [i16; 256] {
    let mut out = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        out[i] = match law {
            Law::Mu => ulaw(i as u8),
            Law::A => alaw(i as u8),
        };
        i += 1;
    }
    out
}

enum Law {
    Mu,
    A,
}

static ULAW: [i16; 256] = table(Law::Mu);
static ALAW: [i16; 256] = table(Law::A);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Silence and full scale, per the G.711 tables.
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x7f), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
        assert_eq!(alaw_to_linear(0x2a), -32256);
    }

    #[test]
    fn monotonic_in_each_half() {
        // µ-law codes 0x80..0xff run from the loudest positive value down to zero.
        for b in 0x80u8..0xff {
            assert!(ulaw_to_linear(b) >= ulaw_to_linear(b + 1));
        }
    }
}
