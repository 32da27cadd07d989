//! What happens in each generated call, and when: drawn once per call from the seed, before
//! any packet is written.

use std::net::Ipv4Addr;

use super::Options;
use super::audio::{Law, PACKET_SAMPLES, RATE};
use super::rng::{Rng, key};

/// Microseconds between two RTP packets of a stream.
pub const PACKET_US: i64 = 20_000;

/// The record-button users: extensions `2000` to `2099`.
pub const AGENTS: u32 = 100;

/// One side of a call.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Its number (the user part of its SIP URI).
    pub number: String,
    /// Its display name, if any.
    pub name: Option<String>,
    /// Its address (SIP and RTP).
    pub ip: Ipv4Addr,
    /// Where it receives RTP.
    pub rtp_port: u16,
    /// Its dialog tag.
    pub tag: String,
    /// Its RTP stream: SSRC, first sequence number, first timestamp.
    pub ssrc: u32,
    /// First RTP sequence number.
    pub seq0: u16,
    /// First RTP timestamp.
    pub ts0: u32,
    /// When its first RTP packet is due, µs.
    pub media_start: i64,
    /// How many RTP packets it sends (lost ones included).
    pub packets: u32,
}

/// A SIP message of the call's ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// INVITE with the caller's SDP offer.
    Invite,
    /// 100 Trying.
    Trying,
    /// 180 Ringing.
    Ringing,
    /// 200 OK to the INVITE with the callee's SDP answer.
    Answer,
    /// ACK.
    Ack,
    /// INFO with `Record: on` (pair index).
    InfoOn(u8),
    /// Its 200 OK.
    InfoOnOk(u8),
    /// INFO with `Record: off`.
    InfoOff(u8),
    /// Its 200 OK.
    InfoOffOk(u8),
    /// BYE.
    Bye,
    /// Its 200 OK.
    ByeOk,
}

/// One call.
#[derive(Clone, Debug)]
pub struct CallPlan {
    /// Position in the capture (0-based).
    pub index: u32,
    /// The SIP Call-ID.
    pub call_id: String,
    /// Who calls (index 0) and who is called (index 1).
    pub ends: [Endpoint; 2],
    /// Which end is the agent who may press the record button.
    pub agent: usize,
    /// Which end hangs up.
    pub hangs_up: usize,
    /// The codec of both directions.
    pub law: Law,
    /// The SIP messages and when they are sent, µs, in order.
    pub steps: Vec<(i64, Step)>,
    /// When the call was answered (the 200 OK), µs.
    pub answered_at: i64,
    /// When the BYE is sent, µs.
    pub bye_at: i64,
}

impl CallPlan {
    /// Draws call `index` of a capture.
    pub fn new(options: &Options, index: u32, start: i64) -> CallPlan {
        let seed = options.seed;
        let mut rng = Rng::new(key(&[seed, u64::from(index), 0xca11]));
        let sec = |s: f64| (s * 1e6) as i64;
        let answered_at = start + sec(rng.range(0.5, 2.5));
        let bye_at = answered_at + sec(options.duration);
        let ack_at = answered_at + sec(rng.range(0.002, 0.030));

        // Even calls are outbound (an agent calls out), odd ones inbound.
        let agent = (index % 2) as usize;
        let agent_number = (2000 + index % AGENTS).to_string();
        let external = format!(
            "+4930{:08}",
            key(&[seed, u64::from(index), 7]) % 100_000_000
        );
        let (caller, callee) = if agent == 0 {
            (agent_number, external)
        } else {
            (external, agent_number)
        };
        // Addresses: the caller side in 10.16.0.0/12, the callee side in 10.32.0.0/12, one
        // host per call, so the media of every call is on its own pair of addresses.
        let host = |base: u32| Ipv4Addr::from(base + index + 1);
        let port = 16_384 + 2 * (index % 8000) as u16;
        let media_start = [
            ack_at + sec(rng.range(0.005, 0.025)),
            ack_at + sec(rng.range(0.005, 0.025)),
        ];
        let mut endpoint = |number: String, ip: Ipv4Addr, rtp_port: u16, media_start: i64| {
            let name = (number.len() == 4).then(|| format!("Agent {number}"));
            let packets = ((bye_at - media_start - 1) / PACKET_US + 1).max(0) as u32;
            Endpoint {
                number,
                name,
                ip,
                rtp_port,
                tag: format!("{:x}", rng.next_u64() >> 16),
                ssrc: rng.next_u64() as u32,
                seq0: rng.next_u64() as u16,
                ts0: rng.next_u64() as u32,
                media_start,
                packets,
            }
        };
        let ends = [
            endpoint(caller, host(0x0a10_0000), port, media_start[0]),
            endpoint(callee, host(0x0a20_0000), port + 4000, media_start[1]),
        ];
        // One call in four uses A-law.
        let law = if index % 4 == 3 { Law::A } else { Law::Mu };

        let mut steps = vec![
            (start, Step::Invite),
            (start + sec(rng.range(0.001, 0.010)), Step::Trying),
            (start + sec(rng.range(0.05, 0.2)), Step::Ringing),
            (answered_at, Step::Answer),
            (ack_at, Step::Ack),
        ];
        // Record-button pairs: one or two per recorded call, each inside its own slot of the
        // talk time, answered 200 OK after 8 to 30 ms. Sent off the 20 ms packet grid, so no
        // packet shares a timestamp with an INFO's answer.
        let talk = options.duration - 1.0;
        if talk >= 1.0 && rng.chance(options.record_share) {
            let pairs = 1 + rng.below(2) as u8;
            let slot = talk / f64::from(pairs);
            for pair in 0..pairs {
                let from = answered_at + sec(0.5 + slot * f64::from(pair));
                let on = from + sec(slot * rng.range(0.0, 0.3)) + 3_331;
                let off = from + sec(slot * rng.range(0.6, 0.95)) + 7_177;
                steps.push((on, Step::InfoOn(pair)));
                steps.push((on + sec(rng.range(0.008, 0.030)), Step::InfoOnOk(pair)));
                steps.push((off, Step::InfoOff(pair)));
                steps.push((off + sec(rng.range(0.008, 0.030)), Step::InfoOffOk(pair)));
            }
        }
        steps.push((bye_at, Step::Bye));
        steps.push((bye_at + sec(rng.range(0.002, 0.020)), Step::ByeOk));

        CallPlan {
            index,
            call_id: format!("{:012x}-{index}@{}", key(&[seed, 0xc0de]) >> 16, ends[0].ip),
            ends,
            agent,
            hangs_up: rng.below(2) as usize,
            law,
            steps,
            answered_at,
            bye_at,
        }
    }

    /// When the call's last message is sent, µs.
    pub fn last_at(&self) -> i64 {
        self.steps.last().map_or(0, |s| s.0)
    }

    /// Samples of conversation (from the answer to the BYE).
    pub fn talk_samples(&self) -> u32 {
        ((self.bye_at - self.answered_at) * i64::from(RATE) / 1_000_000) as u32
    }

    /// The conversation sample position of packet `k` of end `from`.
    pub fn sample_of(&self, from: usize, k: u32) -> u64 {
        let offset = (self.ends[from].media_start - self.answered_at) * i64::from(RATE) / 1_000_000;
        offset as u64 + u64::from(k) * PACKET_SAMPLES as u64
    }
}
