//! Places each party's audio on one clock so the two channels line up.
//!
//! Each channel maps RTP timestamps to sample positions on the segment's timeline, anchored by
//! the capture time of a packet. Packets may arrive out of order within the playout delay;
//! gaps stay silent (loss concealment by silence). The anchor is reset when the SSRC changes
//! or the timestamps stray too far from the capture clock (a sender restart, a timestamp jump,
//! clock drift), so one bad stream cannot shift its channel against the other.

use std::collections::VecDeque;

use crate::time::Timestamp;

/// How far a packet's timestamp-derived position may stray from its arrival before the
/// channel is re-anchored, in milliseconds.
const MAX_SKEW_MS: i64 = 400;

/// How far ahead of the playout point a channel may buffer, in seconds (bounds memory).
const MAX_AHEAD_SECS: i64 = 10;

#[derive(Clone, Copy, Debug)]
struct Anchor {
    ssrc: u32,
    rtp_ts: u32,
    position: i64,
}

#[derive(Debug, Default)]
struct Channel {
    anchor: Option<Anchor>,
    /// Samples from position `Timeline::flushed` onwards.
    samples: VecDeque<i16>,
}

/// Counters of what the timeline had to drop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimelineStats {
    /// Packets that arrived after their place had been encoded.
    pub late_packets: u64,
    /// Times a channel was re-anchored.
    pub reanchors: u64,
}

/// A two-channel timeline at a fixed sample rate.
#[derive(Debug)]
pub struct Timeline {
    rate: u32,
    start: Timestamp,
    /// Position up to which audio has been handed out.
    flushed: i64,
    channels: [Channel; 2],
    /// What was dropped.
    pub stats: TimelineStats,
}

impl Timeline {
    /// A timeline at `rate` Hz whose position 0 is `start`.
    pub fn new(rate: u32, start: Timestamp) -> Self {
        Timeline {
            rate,
            start,
            flushed: 0,
            channels: [Channel::default(), Channel::default()],
            stats: TimelineStats::default(),
        }
    }

    /// The timeline's position 0.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// Samples handed out so far.
    pub fn flushed(&self) -> i64 {
        self.flushed
    }

    /// The position of a capture time.
    pub fn position_of(&self, at: Timestamp) -> i64 {
        (at.as_micros() - self.start.as_micros()) * i64::from(self.rate) / 1_000_000
    }

    /// Puts decoded samples of one packet on a channel. `rtp_ts` is in units of the timeline
    /// rate (the caller scales codecs with another clock).
    pub fn push(
        &mut self,
        channel: usize,
        arrival: Timestamp,
        ssrc: u32,
        rtp_ts: u32,
        pcm: &[i16],
    ) {
        let arrival_pos = self.position_of(arrival);
        let max_skew = MAX_SKEW_MS * i64::from(self.rate) / 1000;
        let chan = &mut self.channels[channel];

        let by_timestamp = chan
            .anchor
            .filter(|a| a.ssrc == ssrc)
            .map(|a| a.position + i64::from(rtp_ts.wrapping_sub(a.rtp_ts) as i32));
        let position = match by_timestamp {
            Some(pos) if (pos - arrival_pos).abs() <= max_skew => pos,
            _ => {
                if chan.anchor.is_some() {
                    self.stats.reanchors += 1;
                }
                // The packet's audio ends at its arrival; it started one packet earlier.
                let pos = arrival_pos - pcm.len() as i64;
                chan.anchor = Some(Anchor {
                    ssrc,
                    rtp_ts,
                    position: pos,
                });
                pos
            }
        };

        let mut pcm = pcm;
        let mut offset = position - self.flushed;
        if offset < 0 {
            let skip = (-offset) as usize;
            if skip >= pcm.len() {
                self.stats.late_packets += 1;
                return;
            }
            pcm = &pcm[skip..];
            offset = 0;
        }
        let offset = offset as usize;
        let limit = (MAX_AHEAD_SECS * i64::from(self.rate)) as usize;
        if offset + pcm.len() > limit {
            self.stats.late_packets += 1;
            return;
        }
        if chan.samples.len() < offset + pcm.len() {
            chan.samples.resize(offset + pcm.len(), 0);
        }
        for (slot, &sample) in chan.samples.range_mut(offset..offset + pcm.len()).zip(pcm) {
            *slot = sample;
        }
    }

    /// Hands out interleaved stereo frames of `frame` samples per channel, up to `until`
    /// (a position). Missing audio is silence.
    pub fn drain_frames(&mut self, until: i64, frame: usize, out: &mut dyn FnMut(&[i16])) {
        let mut stereo = vec![0i16; frame * 2];
        while self.flushed + frame as i64 <= until {
            for (ch, chan) in self.channels.iter_mut().enumerate() {
                for i in 0..frame {
                    stereo[i * 2 + ch] = chan.samples.pop_front().unwrap_or(0);
                }
            }
            self.flushed += frame as i64;
            out(&stereo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t: i64) -> Timestamp {
        Timestamp::from_micros(t * 1000)
    }

    fn frames(tl: &mut Timeline, until_ms: i64) -> Vec<Vec<i16>> {
        let mut out = Vec::new();
        let until = tl.position_of(ms(until_ms));
        tl.drain_frames(until, 160, &mut |f| out.push(f.to_vec()));
        out
    }

    #[test]
    fn aligns_two_channels_by_arrival() {
        let mut tl = Timeline::new(8000, ms(0));
        // Caller's packet covering 0-20 ms arrives at 20 ms; callee's covers 20-40 ms.
        tl.push(0, ms(20), 1, 1000, &[100; 160]);
        tl.push(1, ms(40), 2, 5000, &[200; 160]);
        let out = frames(&mut tl, 40);
        assert_eq!(out.len(), 2);
        assert_eq!(&out[0][..4], &[100, 0, 100, 0]);
        assert_eq!(&out[1][..4], &[0, 200, 0, 200]);
    }

    #[test]
    fn reorders_and_fills_gaps_with_silence() {
        let mut tl = Timeline::new(8000, ms(0));
        tl.push(0, ms(20), 1, 0, &[1; 160]);
        tl.push(0, ms(61), 1, 320, &[3; 160]); // packet 2 lost, packet 3 first
        tl.push(0, ms(62), 1, 480, &[4; 160]);
        let out = frames(&mut tl, 80);
        let left: Vec<i16> = out.iter().map(|f| f[0]).collect();
        assert_eq!(left, vec![1, 0, 3, 4]);
    }

    #[test]
    fn too_late_packets_are_dropped_and_jumps_reanchor() {
        let mut tl = Timeline::new(8000, ms(0));
        tl.push(0, ms(20), 7, 0, &[1; 160]);
        frames(&mut tl, 100);
        tl.push(0, ms(21), 7, 160, &[2; 160]);
        assert_eq!(tl.stats.late_packets, 1);
        // A timestamp jump of an hour is re-anchored on arrival time.
        tl.push(0, ms(140), 7, 160 + 8000 * 3600, &[5; 160]);
        assert_eq!(tl.stats.reanchors, 1);
        let out = frames(&mut tl, 140);
        assert_eq!(out.last().unwrap()[0], 5);
    }
}
