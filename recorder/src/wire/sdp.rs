//! SDP session descriptions (RFC 8866), as far as binding RTP to a call needs.
//!
//! The parse is forgiving: a line that cannot be read is skipped, and a media line with an
//! unreadable or absurd port is kept as disabled (port 0) so that the media indexes of offer
//! and answer still line up (RFC 3264 section 6).

use std::net::IpAddr;

/// What a media stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
    /// `m=image` (T.38 fax).
    Image,
    /// Anything else (`application`, `text`, ...).
    Other,
}

/// The direction attribute of a stream (RFC 3264 section 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

/// One `a=rtpmap` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    /// The payload type number.
    pub payload_type: u8,
    /// The encoding name as written (e.g. `PCMU`, `telephone-event`).
    pub encoding: String,
    /// The RTP clock rate.
    pub clock_rate: u32,
}

/// One `a=crypto` line (RFC 4568), for SRTP with SDES keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crypto {
    /// The tag that the answer repeats.
    pub tag: u32,
    /// The crypto suite, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// The key parameters (`inline:...`), as written.
    pub key_params: String,
}

/// One `m=` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// audio, video, image, ...
    pub kind: MediaKind,
    /// The transport port; 0 when the stream is disabled or the port was unreadable.
    pub port: u16,
    /// The transport protocol, e.g. `RTP/AVP`, `RTP/SAVP`, `udptl`.
    pub protocol: String,
    /// The payload type numbers offered, in preference order (RTP streams only).
    pub payload_types: Vec<u8>,
    /// The media-level connection address, if any.
    pub connection: Option<IpAddr>,
    /// The stream's direction (media level, else session level, else sendrecv).
    pub direction: Direction,
    /// `a=rtpmap` entries.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=rtcp` port (and address), when RTCP is not on port + 1.
    pub rtcp: Option<(u16, Option<IpAddr>)>,
    /// `a=rtcp-mux`: RTCP shares the RTP port.
    pub rtcp_mux: bool,
    /// `a=crypto` lines.
    pub crypto: Vec<Crypto>,
}

impl Media {
    /// The encoding name and clock rate of a payload type: from `a=rtpmap`, else the static
    /// assignments of RFC 3551 table 4.
    pub fn encoding(&self, payload_type: u8) -> Option<(&str, u32)> {
        if let Some(map) = self.rtpmaps.iter().find(|m| m.payload_type == payload_type) {
            return Some((map.encoding.as_str(), map.clock_rate));
        }
        static_payload(payload_type)
    }

    /// Whether this stream carries RTP (and so may be recorded).
    pub fn is_rtp(&self) -> bool {
        contains_ignore_case(&self.protocol, "RTP")
    }

    /// Whether this stream is SRTP (`RTP/SAVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVP`...).
    pub fn is_secure(&self) -> bool {
        contains_ignore_case(&self.protocol, "SAVP")
    }
}

/// Whether `needle` occurs in `haystack`, ASCII case ignored (asked for every RTP packet, so
/// without the allocation of an upper-cased copy).
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The static RTP payload types of RFC 3551 that matter for voice.
pub fn static_payload(payload_type: u8) -> Option<(&'static str, u32)> {
    match payload_type {
        0 => Some(("PCMU", 8000)),
        3 => Some(("GSM", 8000)),
        4 => Some(("G723", 8000)),
        8 => Some(("PCMA", 8000)),
        9 => Some(("G722", 8000)),
        13 => Some(("CN", 8000)),
        18 => Some(("G729", 8000)),
        _ => None,
    }
}

/// A session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sdp {
    /// The address in `o=` (informational).
    pub origin: Option<IpAddr>,
    /// The session-level connection address.
    pub connection: Option<IpAddr>,
    /// The media sections, in order.
    pub media: Vec<Media>,
}

impl Sdp {
    /// Parses an SDP body. Returns `None` when there is no `v=` line at all.
    pub fn parse(body: &[u8]) -> Option<Sdp> {
        let text = String::from_utf8_lossy(body);
        let lines = text.lines().map(str::trim).filter(|l| l.len() >= 2);
        if !lines.clone().any(|l| l.starts_with("v=")) {
            return None;
        }

        let mut sdp = Sdp {
            origin: None,
            connection: None,
            media: Vec::new(),
        };
        let mut session_direction = Direction::SendRecv;
        // The direction each media section set itself, if it did.
        let mut own_direction: Vec<Option<Direction>> = Vec::new();

        for line in lines {
            // `=` checked first: only then is byte 2 sure to start a character (a line may
            // start with a multi-byte one).
            if line.as_bytes()[1] != b'=' {
                continue;
            }
            let (kind, value) = (line.as_bytes()[0], line[2..].trim());
            match kind {
                b'o' => sdp.origin = value.split_ascii_whitespace().nth(5).and_then(parse_addr),
                b'c' => {
                    let addr = connection_address(value);
                    match sdp.media.last_mut() {
                        Some(media) => media.connection = addr,
                        None => sdp.connection = addr,
                    }
                }
                b'm' => {
                    sdp.media.push(parse_media(value));
                    own_direction.push(None);
                }
                b'a' => {
                    let direction = match value {
                        "sendrecv" => Some(Direction::SendRecv),
                        "sendonly" => Some(Direction::SendOnly),
                        "recvonly" => Some(Direction::RecvOnly),
                        "inactive" => Some(Direction::Inactive),
                        _ => None,
                    };
                    match (sdp.media.last_mut(), direction) {
                        (None, Some(dir)) => session_direction = dir,
                        (Some(_), Some(dir)) => {
                            if let Some(last) = own_direction.last_mut() {
                                *last = Some(dir);
                            }
                        }
                        (Some(media), None) => parse_media_attribute(media, value),
                        (None, None) => {}
                    }
                }
                _ => {}
            }
        }
        for (media, own) in sdp.media.iter_mut().zip(own_direction) {
            media.direction = own.unwrap_or(session_direction);
        }
        Some(sdp)
    }

    /// The address a media stream is received on: its own `c=`, else the session's.
    pub fn media_address(&self, media: &Media) -> Option<IpAddr> {
        media.connection.or(self.connection)
    }
}

fn parse_addr(text: &str) -> Option<IpAddr> {
    // IPv6 addresses in SDP may carry a zone ("fe80::1%eth0"); drop it.
    let text = text.split('%').next()?;
    // Multicast in c= may carry "/ttl/count".
    let text = text.split('/').next()?;
    text.parse().ok()
}

fn connection_address(value: &str) -> Option<IpAddr> {
    // c=IN IP4 10.0.0.1
    let mut parts = value.split_ascii_whitespace();
    let _net = parts.next()?;
    let _family = parts.next()?;
    parse_addr(parts.next()?)
}

fn parse_media(value: &str) -> Media {
    let mut parts = value.split_ascii_whitespace();
    let kind = match parts.next().unwrap_or("") {
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        "image" => MediaKind::Image,
        _ => MediaKind::Other,
    };
    // "port" or "port/count"; anything unreadable (e.g. "$", "70000") disables the stream.
    let port = parts
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    let protocol = parts.next().unwrap_or("").to_string();
    let payload_types = parts
        .filter_map(|f| f.parse::<u8>().ok())
        .filter(|pt| *pt < 128)
        .collect();
    Media {
        kind,
        port,
        protocol,
        payload_types,
        connection: None,
        direction: Direction::SendRecv,
        rtpmaps: Vec::new(),
        rtcp: None,
        rtcp_mux: false,
        crypto: Vec::new(),
    }
}

fn parse_media_attribute(media: &mut Media, value: &str) {
    let (name, rest) = value.split_once(':').unwrap_or((value, ""));
    match name {
        "rtpmap" => {
            // a=rtpmap:<pt> <encoding>/<clock>[/<channels>]
            let Some((pt, spec)) = rest.split_once(' ') else {
                return;
            };
            let Ok(payload_type) = pt.trim().parse::<u8>() else {
                return;
            };
            let mut spec = spec.trim().split('/');
            let encoding = spec.next().unwrap_or("").to_string();
            let clock_rate = spec.next().and_then(|c| c.parse().ok()).unwrap_or(8000);
            media.rtpmaps.push(RtpMap {
                payload_type,
                encoding,
                clock_rate,
            });
        }
        "rtcp" => {
            // a=rtcp:<port> [IN IP4 <addr>]
            let mut parts = rest.split_ascii_whitespace();
            if let Some(port) = parts.next().and_then(|p| p.parse().ok()) {
                let addr = parts.nth(2).and_then(parse_addr);
                media.rtcp = Some((port, addr));
            }
        }
        "rtcp-mux" => media.rtcp_mux = true,
        "crypto" => {
            let mut parts = rest.split_ascii_whitespace();
            let tag = parts.next().and_then(|t| t.parse().ok());
            let suite = parts.next();
            let key_params = parts.next();
            if let (Some(tag), Some(suite), Some(key_params)) = (tag, suite, key_params) {
                media.crypto.push(Crypto {
                    tag,
                    suite: suite.to_string(),
                    key_params: key_params.to_string(),
                });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (issue 6): a line starting with a multi-byte character was sliced
    /// inside that character, a panic any SIP message with such a body could trigger.
    #[test]
    fn a_line_starting_with_a_multibyte_character_does_not_panic() {
        let sdp =
            Sdp::parse("v=0\r\n\u{e9}x=1\r\n\u{20ac}=\r\nm=audio 4000 RTP/AVP 0\r\n".as_bytes())
                .expect("parsed");
        assert_eq!(sdp.media.len(), 1);
        assert_eq!(sdp.media[0].port, 4000);
    }

    #[test]
    fn parses_an_offer() {
        let body = b"v=0\r\no=user1 53655765 2353687637 IN IP4 10.77.0.1\r\ns=-\r\n\
c=IN IP4 10.77.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n";
        let sdp = Sdp::parse(body).unwrap();
        assert_eq!(sdp.connection, Some("10.77.0.1".parse().unwrap()));
        let audio = &sdp.media[0];
        assert_eq!(audio.kind, MediaKind::Audio);
        assert_eq!(audio.port, 6000);
        assert_eq!(audio.payload_types, vec![0, 101]);
        assert_eq!(audio.encoding(101), Some(("telephone-event", 8000)));
        assert_eq!(audio.encoding(0), Some(("PCMU", 8000)));
        assert!(audio.is_rtp());
    }

    #[test]
    fn session_direction_and_bad_ports() {
        let body = b"v=0\nc=IN IP6 fe80::1%eth0\na=sendonly\nm=audio $ RTP/AVP 8\n\
m=image 70000 udptl t38\nm=audio 4000 RTP/AVP 8\na=inactive\n";
        let sdp = Sdp::parse(body).unwrap();
        assert_eq!(sdp.connection, Some("fe80::1".parse().unwrap()));
        assert_eq!(sdp.media.len(), 3);
        assert_eq!(sdp.media[0].port, 0);
        assert_eq!(sdp.media[0].direction, Direction::SendOnly);
        assert_eq!(sdp.media[1].port, 0);
        assert_eq!(sdp.media[1].kind, MediaKind::Image);
        assert_eq!(sdp.media[2].direction, Direction::Inactive);
    }

    #[test]
    fn not_sdp() {
        assert!(Sdp::parse(b"hello").is_none());
        assert!(Sdp::parse(&[0xff; 40]).is_none());
    }
}
