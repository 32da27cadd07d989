//! One recording segment: decoded audio of both parties, aligned, encoded to a stereo file.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::MediaError;
use super::codec::{Codec, decode_8k};
use super::ogg_opus::{EncoderSettings, OggOpusWriter};
use super::timeline::Timeline;
use crate::dialog::Party;
use crate::time::{Duration, Timestamp};
use crate::wire::RtpPacket;

/// How long audio waits for late (reordered) packets before it is encoded.
const PLAYOUT_DELAY: Duration = Duration::from_millis(200);

/// How long a party's stream may pause before another stream of that party takes over.
const STREAM_TAKEOVER: Duration = Duration::from_millis(300);

/// The sample rate of recordings. G.711 is 8 kHz; wideband codecs are TODO(#5).
const RATE: u32 = 8000;

/// Where and how to write a segment.
#[derive(Clone, Debug)]
pub struct SegmentSpec {
    /// The journal's segment id.
    pub id: i64,
    /// The file to write.
    pub path: PathBuf,
    /// When recording was switched on.
    pub opened_at: Timestamp,
    /// Whether the call had no media yet when recording was switched on; the audio then
    /// starts with the first packet, not with minutes of ringing silence.
    pub wait_for_media: bool,
    /// Vorbis comments for the file (call id, parties).
    pub tags: Vec<(&'static str, String)>,
}

/// A finished segment.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedSegment {
    /// The journal's segment id.
    pub id: i64,
    /// Where the audio starts.
    pub started_at: Timestamp,
    /// Where it ends.
    pub ended_at: Timestamp,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// File size.
    pub bytes: u64,
    /// RTP packets recorded per party (caller, callee).
    pub packets: [u64; 2],
}

#[derive(Clone, Copy, Debug)]
struct StreamLock {
    src: SocketAddr,
    ssrc: u32,
    last_at: Timestamp,
}

/// A segment being written.
pub struct SegmentWriter {
    spec: SegmentSpec,
    writer: OggOpusWriter,
    timeline: Option<Timeline>,
    locks: [Option<StreamLock>; 2],
    packets: [u64; 2],
    pcm: Vec<i16>,
    /// Arrival of the newest audio; encoding never runs past it, so a call whose end is never
    /// seen does not grow silence until it times out.
    last_audio: Option<Timestamp>,
    /// Codecs seen that this build cannot decode.
    pub undecodable: Vec<Codec>,
}

impl SegmentWriter {
    /// Creates the file and starts the segment.
    pub fn open(spec: SegmentSpec, settings: EncoderSettings) -> Result<SegmentWriter, MediaError> {
        if let Some(dir) = spec.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| MediaError::io(dir, e))?;
        }
        let tags: Vec<(&str, String)> = spec.tags.iter().map(|(k, v)| (*k, v.clone())).collect();
        let serial = spec.id as u32;
        let writer = OggOpusWriter::create(&spec.path, RATE, serial, settings, &tags)?;
        let timeline = (!spec.wait_for_media).then(|| Timeline::new(RATE, spec.opened_at));
        Ok(SegmentWriter {
            spec,
            writer,
            timeline,
            locks: [None, None],
            packets: [0, 0],
            pcm: Vec::with_capacity(960),
            last_audio: None,
            undecodable: Vec::new(),
        })
    }

    /// The segment's journal id.
    pub fn id(&self) -> i64 {
        self.spec.id
    }

    /// Adds one RTP packet of a party's voice.
    pub fn push_rtp(
        &mut self,
        now: Timestamp,
        party: Party,
        src: SocketAddr,
        codec: Codec,
        packet: &RtpPacket<&[u8]>,
    ) -> Result<(), MediaError> {
        if !codec.is_voice() {
            return Ok(());
        }
        if !self.take_stream(now, party, src, packet.ssrc()) {
            return Ok(());
        }
        self.pcm.clear();
        if !decode_8k(codec, packet.payload(), &mut self.pcm) {
            if !self.undecodable.contains(&codec) {
                self.undecodable.push(codec);
            }
            return Ok(());
        }
        self.packets[party.index()] += 1;
        self.last_audio = Some(self.last_audio.map_or(now, |last| last.max(now)));
        let timeline = self.timeline.get_or_insert_with(|| {
            // The first audio of a segment that waited for media: start a packet earlier, so
            // the packet itself fits.
            Timeline::new(RATE, now - Duration::from_millis(20))
        });
        timeline.push(
            party.index(),
            now,
            packet.ssrc(),
            packet.timestamp(),
            &self.pcm,
        );
        self.advance(now)
    }

    /// Whether this packet's stream is the one recorded for its party, switching streams when
    /// the sender restarted (same address, new SSRC) or the old stream went quiet.
    fn take_stream(&mut self, now: Timestamp, party: Party, src: SocketAddr, ssrc: u32) -> bool {
        let lock = &mut self.locks[party.index()];
        match lock {
            Some(l) if l.src == src && l.ssrc == ssrc => {
                l.last_at = now;
                true
            }
            Some(l) if l.src != src && now.since(l.last_at) < STREAM_TAKEOVER => false,
            _ => {
                *lock = Some(StreamLock {
                    src,
                    ssrc,
                    last_at: now,
                });
                true
            }
        }
    }

    /// Encodes whatever audio is older than the playout delay (and no further than the newest
    /// audio: a pause is filled with silence only once audio resumes or the segment closes).
    pub fn advance(&mut self, now: Timestamp) -> Result<(), MediaError> {
        let (Some(timeline), Some(last_audio)) = (self.timeline.as_mut(), self.last_audio) else {
            return Ok(());
        };
        let until = timeline.position_of((now - PLAYOUT_DELAY).min(last_audio));
        let frame = self.writer.frame_samples();
        let writer = &mut self.writer;
        let mut result = Ok(());
        timeline.drain_frames(until, frame, &mut |stereo| {
            if result.is_ok() {
                result = writer.write_frame(stereo);
            }
        });
        result
    }

    /// Encodes the rest up to `at`, closes the file and returns what was written.
    pub fn close(mut self, at: Timestamp) -> Result<FinishedSegment, MediaError> {
        let frame = self.writer.frame_samples() as i64;
        let started_at = self
            .timeline
            .as_ref()
            .map_or(self.spec.opened_at, |t| t.start());
        if let Some(timeline) = self.timeline.as_mut() {
            // Round the end up to a whole frame so the last packet is not cut.
            let end = timeline.position_of(at);
            let until = (end + frame - 1) / frame * frame;
            let writer = &mut self.writer;
            let mut result = Ok(());
            timeline.drain_frames(until, frame as usize, &mut |stereo| {
                if result.is_ok() {
                    result = writer.write_frame(stereo);
                }
            });
            result?;
        }
        let ended_at = at.max(started_at);
        let file = self.writer.finish()?;
        Ok(FinishedSegment {
            id: self.spec.id,
            started_at,
            ended_at,
            sha256: file.sha256,
            bytes: file.bytes,
            packets: self.packets,
        })
    }
}
