//! SRTP decryption with keys exchanged in SDP (SDES, RFC 4568): AES counter mode and
//! HMAC-SHA1 authentication, the `AES_CM_128_HMAC_SHA1_80` and `_32` suites (RFC 3711).
//!
//! A context follows one sender's stream: its rollover counter (the part of the packet
//! index not on the wire, section 3.3.1) is guessed from the sequence number as Appendix A
//! describes, and each packet's tag is checked before its payload is decrypted. A packet
//! that fails the check is not used (it was damaged, or the key is not the one in the SDP).

use aes::cipher::{KeyIvInit, StreamCipher};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Why a packet could not be decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// Shorter than an RTP header and the tag.
    #[error("packet too short")]
    Truncated,
    /// The authentication tag does not match.
    #[error("authentication failed")]
    Authentication,
}

/// The session keys of one direction and the stream's packet index state.
pub struct SrtpContext {
    cipher_key: [u8; 16],
    salt: [u8; 14],
    auth_key: [u8; 20],
    tag_len: usize,
    /// Highest sequence number and rollover counter seen.
    last: Option<(u16, u32)>,
}

impl SrtpContext {
    /// Builds a context from an `a=crypto` suite and key parameters (`inline:BASE64|...`);
    /// `None` for suites or keys it does not know.
    pub fn from_sdes(suite: &str, key_params: &str) -> Option<SrtpContext> {
        let tag_len = match suite {
            "AES_CM_128_HMAC_SHA1_80" => 10,
            "AES_CM_128_HMAC_SHA1_32" => 4,
            _ => return None,
        };
        let inline = key_params.strip_prefix("inline:")?;
        // Lifetime and MKI may follow the key after '|'.
        let encoded = inline.split('|').next()?;
        let material = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        if material.len() != 30 {
            return None;
        }
        let master_key: [u8; 16] = material[..16].try_into().ok()?;
        let master_salt: [u8; 14] = material[16..].try_into().ok()?;
        let mut cipher_key = [0u8; 16];
        let mut auth_key = [0u8; 20];
        let mut salt = [0u8; 14];
        derive(&master_key, &master_salt, 0x00, &mut cipher_key);
        derive(&master_key, &master_salt, 0x01, &mut auth_key);
        derive(&master_key, &master_salt, 0x02, &mut salt);
        Some(SrtpContext {
            cipher_key,
            salt,
            auth_key,
            tag_len,
            last: None,
        })
    }

    /// Checks and decrypts one SRTP packet into `out` (header and clear payload, no tag).
    pub fn decrypt(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SrtpError> {
        if packet.len() < 12 + self.tag_len {
            return Err(SrtpError::Truncated);
        }
        let header_len = rtp_header_len(packet).ok_or(SrtpError::Truncated)?;
        let body_end = packet.len() - self.tag_len;
        if header_len > body_end {
            return Err(SrtpError::Truncated);
        }
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let roc = self.guess_roc(seq);

        // Authentication: HMAC-SHA1 over the authenticated portion and the ROC (4.2).
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&self.auth_key).expect("any key size");
        mac.update(&packet[..body_end]);
        mac.update(&roc.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        if tag[..self.tag_len] != packet[body_end..] {
            return Err(SrtpError::Authentication);
        }

        // IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16)  (4.1.1).
        let index = (u64::from(roc) << 16) | u64::from(seq);
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        for (i, b) in ssrc.to_be_bytes().iter().enumerate() {
            iv[4 + i] ^= b;
        }
        for (i, b) in index.to_be_bytes()[2..].iter().enumerate() {
            iv[8 + i] ^= b;
        }
        out.clear();
        out.extend_from_slice(&packet[..body_end]);
        let mut cipher = Aes128Ctr::new(&self.cipher_key.into(), &iv.into());
        cipher.apply_keystream(&mut out[header_len..]);
        self.update(seq, roc);
        Ok(())
    }

    /// The rollover counter a sequence number most likely belongs to (RFC 3711 Appendix A).
    fn guess_roc(&self, seq: u16) -> u32 {
        let Some((last_seq, roc)) = self.last else {
            return 0;
        };
        if last_seq < 32_768 {
            if seq > last_seq && seq - last_seq > 32_768 {
                roc.wrapping_sub(1)
            } else {
                roc
            }
        } else if last_seq - 32_768 > seq {
            roc.wrapping_add(1)
        } else {
            roc
        }
    }

    fn update(&mut self, seq: u16, roc: u32) {
        let newer = match self.last {
            None => true,
            Some((last_seq, last_roc)) => (roc, seq) > (last_roc, last_seq),
        };
        if newer {
            self.last = Some((seq, roc));
        }
    }
}

/// The length of an RTP header with its CSRCs and extension.
fn rtp_header_len(packet: &[u8]) -> Option<usize> {
    let csrc = usize::from(packet.first()? & 0x0f);
    let mut len = 12 + 4 * csrc;
    if packet[0] & 0x10 != 0 {
        let ext = packet.get(len..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    }
    Some(len)
}

/// The key derivation function with a key derivation rate of 0 (RFC 3711 section 4.3).
fn derive(master_key: &[u8; 16], master_salt: &[u8; 14], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(master_salt);
    iv[7] ^= label;
    out.fill(0);
    let mut cipher = Aes128Ctr::new(master_key.into(), &iv.into());
    cipher.apply_keystream(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3711 appendix B.3: the key derivation test vectors.
    #[test]
    fn derives_the_rfc_3711_session_keys() {
        let master_key: [u8; 16] = hex::decode("E1F97A0D3E018BE0D64FA32C06DE4139")
            .unwrap()
            .try_into()
            .unwrap();
        let master_salt: [u8; 14] = hex::decode("0EC675AD498AFEEBB6960B3AABE6")
            .unwrap()
            .try_into()
            .unwrap();
        let mut cipher_key = [0u8; 16];
        derive(&master_key, &master_salt, 0, &mut cipher_key);
        assert_eq!(
            hex::encode_upper(cipher_key),
            "C61E7A93744F39EE10734AFE3FF7A087"
        );
        let mut salt = [0u8; 14];
        derive(&master_key, &master_salt, 2, &mut salt);
        assert_eq!(hex::encode_upper(salt), "30CBBC08863D8C85D49DB34A9AE1");
        let mut auth = [0u8; 20];
        derive(&master_key, &master_salt, 1, &mut auth);
        assert_eq!(
            hex::encode_upper(&auth[..16]),
            "CEBE321F6FF7716B6FD4AB49AF256A15"
        );
    }

    #[test]
    fn refuses_damaged_packets_and_unknown_suites() {
        let params = "inline:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e";
        let mut context = SrtpContext::from_sdes("AES_CM_128_HMAC_SHA1_80", params).unwrap();
        let mut out = Vec::new();
        let packet = [
            0x80u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(
            context.decrypt(&packet, &mut out),
            Err(SrtpError::Authentication)
        );
        assert_eq!(
            context.decrypt(&packet[..12], &mut out),
            Err(SrtpError::Truncated)
        );
        assert!(SrtpContext::from_sdes("F8_128_HMAC_SHA1_80", params).is_none());
        assert!(SrtpContext::from_sdes("AES_CM_128_HMAC_SHA1_80", "inline:AAAA").is_none());
    }
}
