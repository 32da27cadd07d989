//! Media: RTP payloads to PCM, both parties aligned in time, stereo Ogg Opus on disk.
//!
//! The caller's voice is the left channel and the callee's the right. Each recording
//! segment is one file, written as the call goes ([`segment::SegmentWriter`]).

pub mod codec;
pub mod g711;
pub mod g729;
pub mod ogg_opus;
pub mod segment;
pub mod srtp;
pub mod timeline;

use std::path::{Path, PathBuf};

pub use codec::Codec;
pub use ogg_opus::EncoderSettings;
pub use segment::{FinishedSegment, SegmentSpec, SegmentWriter};

/// Why audio could not be written.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A file or folder could not be created or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Writing encoded audio failed.
    #[error("writing audio: {0}")]
    Write(#[source] std::io::Error),
    /// libopus refused.
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
}

impl MediaError {
    fn io(path: &Path, source: std::io::Error) -> MediaError {
        MediaError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether the failure is a full disk (the caller marks the call and goes on).
    pub fn is_disk_full(&self) -> bool {
        let source = match self {
            MediaError::Io { source, .. } | MediaError::Write(source) => source,
            MediaError::Opus(_) => return false,
        };
        source.raw_os_error() == Some(28) || source.kind() == std::io::ErrorKind::StorageFull
    }
}
