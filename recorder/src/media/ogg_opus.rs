//! Stereo Ogg Opus files (RFC 7845), written as the audio comes.
//!
//! The identification and comment headers get pages of their own, as RFC 7845 section 3
//! requires; audio pages are closed about once a second and written straight to the file, so
//! a crash loses at most that second. A SHA-256 of every byte written is kept on the way, so
//! the digest of the finished file costs no second read.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use opus::{Application, Bitrate, Channels, Encoder};
use sha2::{Digest, Sha256};

use super::MediaError;

/// Frames (20 ms each) per Ogg page: one page a second.
const FRAMES_PER_PAGE: u32 = 50;

/// Encoder settings for recordings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Total bitrate for both channels, bits per second.
    pub bitrate: i32,
    /// libopus complexity, 0 (fastest) to 10.
    pub complexity: i32,
    /// Use libopus's speech coder (SILK, `Application::Voip`) rather than its transform coder
    /// (CELT, `Application::LowDelay`).
    pub speech: bool,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        // Telephone audio at 16 kbit/s a channel through CELT at complexity 0: about twice as
        // fast as SILK at the same rate (measured with libopus 1.3.1 on 8 kHz stereo), and
        // clear for speech at this bitrate; SILK is the better choice far below it.
        EncoderSettings {
            bitrate: 32_000,
            complexity: 0,
            speech: false,
        }
    }
}

/// A writer that hashes what passes through it.
struct HashingFile {
    file: File,
    hasher: Sha256,
    written: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// What a finished file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedFile {
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Audio length in samples per channel at the input rate.
    pub samples: u64,
}

/// A stereo Ogg Opus file being written.
pub struct OggOpusWriter {
    writer: PacketWriter<'static, HashingFile>,
    encoder: Encoder,
    serial: u32,
    rate: u32,
    frame: usize,
    frames: u64,
    /// Samples of the first frame the decoder must drop, at 48 kHz.
    pre_skip: u64,
    frames_on_page: u32,
    packet: Vec<u8>,
}

impl OggOpusWriter {
    /// Creates `path` and writes the two header pages. `rate` is the input sample rate
    /// (8000, 12000, 16000, 24000 or 48000); `tags` become Vorbis comments.
    pub fn create(
        path: &Path,
        rate: u32,
        serial: u32,
        settings: EncoderSettings,
        tags: &[(&str, String)],
    ) -> Result<OggOpusWriter, MediaError> {
        let application = if settings.speech {
            Application::Voip
        } else {
            Application::LowDelay
        };
        let mut encoder = Encoder::new(rate, Channels::Stereo, application)?;
        encoder.set_bitrate(Bitrate::Bits(settings.bitrate))?;
        encoder.set_complexity(settings.complexity)?;
        let lookahead = u64::try_from(encoder.get_lookahead()?).unwrap_or(0);
        let pre_skip = lookahead * 48_000 / u64::from(rate);

        let file = File::create(path).map_err(|e| MediaError::io(path, e))?;
        let sink = HashingFile {
            file,
            hasher: Sha256::new(),
            written: 0,
        };
        let mut writer = PacketWriter::new(sink);

        // OpusHead (RFC 7845 section 5.1): version 1, 2 channels, pre-skip, input rate,
        // gain 0, mapping family 0.
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1);
        head.push(2);
        head.extend_from_slice(&(pre_skip as u16).to_le_bytes());
        head.extend_from_slice(&rate.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes());
        head.push(0);
        writer
            .write_packet(head, serial, PacketWriteEndInfo::EndPage, 0)
            .map_err(|e| MediaError::io(path, e))?;

        // OpusTags (section 5.2).
        let vendor = format!(
            "recorder {} ({})",
            env!("CARGO_PKG_VERSION"),
            opus::version()
        );
        let mut comments = Vec::new();
        comments.extend_from_slice(b"OpusTags");
        comments.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        comments.extend_from_slice(vendor.as_bytes());
        comments.extend_from_slice(&(tags.len() as u32).to_le_bytes());
        for (key, value) in tags {
            let entry = format!("{key}={value}");
            comments.extend_from_slice(&(entry.len() as u32).to_le_bytes());
            comments.extend_from_slice(entry.as_bytes());
        }
        writer
            .write_packet(comments, serial, PacketWriteEndInfo::EndPage, 0)
            .map_err(|e| MediaError::io(path, e))?;

        Ok(OggOpusWriter {
            writer,
            encoder,
            serial,
            rate,
            frame: rate as usize / 50,
            frames: 0,
            pre_skip,
            frames_on_page: 0,
            packet: vec![0; 4000],
        })
    }

    /// Samples per channel in one 20 ms frame.
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// Encodes one 20 ms frame of interleaved stereo samples.
    pub fn write_frame(&mut self, stereo: &[i16]) -> Result<(), MediaError> {
        self.write(stereo, false)
    }

    fn write(&mut self, stereo: &[i16], last: bool) -> Result<(), MediaError> {
        let len = self.encoder.encode(stereo, &mut self.packet)?;
        self.frames += 1;
        self.frames_on_page += 1;
        // The last frame is silence padding: its granule position trims it away again
        // (RFC 7845 section 4.5).
        let counted = if last { self.frames - 1 } else { self.frames };
        let granule = self.pre_skip + counted * (48_000 / 50);
        let end = if last {
            PacketWriteEndInfo::EndStream
        } else if self.frames_on_page >= FRAMES_PER_PAGE {
            self.frames_on_page = 0;
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        self.writer
            .write_packet(self.packet[..len].to_vec(), self.serial, end, granule)
            .map_err(MediaError::Write)?;
        Ok(())
    }

    /// Writes the last frame with the end-of-stream flag and returns the file's digest.
    pub fn finish(mut self) -> Result<FinishedFile, MediaError> {
        let silence = vec![0i16; self.frame * 2];
        self.write(&silence, true)?;
        let mut sink = self.writer.into_inner();
        sink.flush().map_err(MediaError::Write)?;
        sink.file.sync_data().map_err(MediaError::Write)?;
        Ok(FinishedFile {
            sha256: hex::encode(sink.hasher.finalize()),
            bytes: sink.written,
            samples: (self.frames - 1) * self.frame as u64,
        })
    }

    /// The input sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_file_opusinfo_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.opus");
        let mut w = OggOpusWriter::create(
            &path,
            8000,
            7,
            EncoderSettings::default(),
            &[("TITLE", "test".into())],
        )
        .unwrap();
        let frame: Vec<i16> = (0..320)
            .map(|i| ((i as f64 * 0.2).sin() * 8000.0) as i16)
            .collect();
        for _ in 0..120 {
            w.write_frame(&frame).unwrap();
        }
        let done = w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(done.bytes, bytes.len() as u64);
        assert_eq!(done.sha256, hex::encode(Sha256::digest(&bytes)));
        assert!(bytes.starts_with(b"OggS"));
        let out = std::process::Command::new("opusinfo")
            .arg(&path)
            .output()
            .expect("opusinfo (Debian opus-tools) must be installed for this test");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("Channels: 2"), "{text}");
        assert!(text.contains("Playback length: 0m:02.3"), "{text}");
    }
}
