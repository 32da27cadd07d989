//! One recording segment: decoded audio of both parties, aligned, encoded to a stereo file.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::MediaError;
use super::codec::{AudioDecoder, Codec, resample};
use super::ogg_opus::{EncoderSettings, OggOpusWriter};
use super::timeline::Timeline;
use crate::dialog::Party;
use crate::time::{Duration, Timestamp};
use crate::wire::RtpPacket;

/// How long audio waits for late (reordered) packets before it is encoded.
const PLAYOUT_DELAY: Duration = Duration::from_millis(200);

/// How long a party's stream may pause before another stream of that party takes over.
const STREAM_TAKEOVER: Duration = Duration::from_millis(300);

/// The sample rate of narrowband recordings (G.711, G.729).
const NARROWBAND: u32 = 8000;

/// The sample rate of recordings of calls with a wideband codec (G.722, Opus).
const WIDEBAND: u32 = 16_000;

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
    /// Whether the call negotiated a wideband codec: the file is then 16 kHz, not 8 kHz.
    pub wideband: bool,
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

/// The decoder of the stream a party's audio comes from.
struct PartyDecoder {
    codec: Codec,
    ssrc: u32,
    decoder: AudioDecoder,
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
    decoders: [Option<PartyDecoder>; 2],
    rate: u32,
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
        let rate = if spec.wideband { WIDEBAND } else { NARROWBAND };
        let writer = OggOpusWriter::create(&spec.path, rate, serial, settings, &tags)?;
        let timeline = (!spec.wait_for_media).then(|| Timeline::new(rate, spec.opened_at));
        Ok(SegmentWriter {
            spec,
            writer,
            timeline,
            locks: [None, None],
            decoders: [None, None],
            rate,
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

    /// Where the audio starts (the segment's position 0), once audio came.
    pub fn started_at(&self) -> Option<Timestamp> {
        self.timeline.as_ref().map(Timeline::start)
    }

    /// Makes a look-back recording (written under a temporary name while nobody had asked to
    /// record) a journaled segment: gives it its id and moves the file to its place. The file
    /// stays open; its digest covers every byte either way.
    pub fn adopt(&mut self, id: i64, path: PathBuf) -> Result<(), MediaError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| MediaError::io(dir, e))?;
        }
        std::fs::rename(&self.spec.path, &path).map_err(|e| MediaError::io(&path, e))?;
        self.spec.id = id;
        self.spec.path = path;
        Ok(())
    }

    /// The file being written.
    pub fn path(&self) -> &std::path::Path {
        &self.spec.path
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
        let ssrc = packet.ssrc();
        let rate = self.rate;
        let slot = &mut self.decoders[party.index()];
        if slot
            .as_ref()
            .is_none_or(|d| d.codec != codec || d.ssrc != ssrc)
        {
            // A new stream or codec (SSRC change, re-INVITE): a fresh decoder state.
            *slot = AudioDecoder::new(codec, rate).map(|decoder| PartyDecoder {
                codec,
                ssrc,
                decoder,
            });
        }
        let Some(party_decoder) = slot.as_mut() else {
            if !self.undecodable.contains(&codec) {
                self.undecodable.push(codec);
            }
            return Ok(());
        };
        self.pcm.clear();
        party_decoder
            .decoder
            .decode(packet.payload(), &mut self.pcm);
        resample(&mut self.pcm, party_decoder.decoder.rate(), rate);
        if self.pcm.is_empty() {
            return Ok(());
        }
        self.packets[party.index()] += 1;
        self.last_audio = Some(self.last_audio.map_or(now, |last| last.max(now)));
        let timeline = self.timeline.get_or_insert_with(|| {
            // The first audio of a segment that waited for media: start a packet earlier, so
            // the packet itself fits.
            Timeline::new(rate, now - Duration::from_millis(20))
        });
        // RTP timestamps count at the codec's clock; the timeline at the recording's rate.
        let scaled =
            (u64::from(packet.timestamp()) * u64::from(rate) / u64::from(codec.rtp_clock())) as u32;
        timeline.push(party.index(), now, ssrc, scaled, &self.pcm);
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
