//! G.729 / G.729A decoding with Belledonne's bcg729 (Debian `libbcg729-dev`), through its C
//! API: one decoder context per stream, 10-byte frames to 80 samples (10 ms at 8 kHz); a
//! 2-byte frame is a comfort-noise SID frame (Annex B).

use std::ptr::NonNull;

#[repr(C)]
struct DecoderContext {
    _private: [u8; 0],
}

unsafe extern "C" {
    fn initBcg729DecoderChannel() -> *mut DecoderContext;
    fn closeBcg729DecoderChannel(context: *mut DecoderContext);
    fn bcg729Decoder(
        context: *mut DecoderContext,
        bit_stream: *const u8,
        bit_stream_length: u8,
        frame_erasure: u8,
        sid_frame: u8,
        rfc3389_payload: u8,
        signal: *mut i16,
    );
}

/// Bytes of a G.729 speech frame.
const FRAME_BYTES: usize = 10;
/// Bytes of an Annex B SID (comfort noise) frame.
const SID_BYTES: usize = 2;
/// Samples per frame.
const FRAME_SAMPLES: usize = 80;

/// One stream's G.729 decoder.
pub struct G729Decoder {
    context: NonNull<DecoderContext>,
}

// SAFETY: the context is owned by this value and used by one thread at a time.
unsafe impl Send for G729Decoder {}

impl G729Decoder {
    /// A fresh decoder; `None` if bcg729 could not allocate one.
    pub fn new() -> Option<G729Decoder> {
        // SAFETY: no preconditions; returns an owned context or null.
        let context = unsafe { initBcg729DecoderChannel() };
        NonNull::new(context).map(|context| G729Decoder { context })
    }

    /// Decodes one RTP payload (any number of frames, optionally ending with a SID frame),
    /// appending 8 kHz samples to `out`.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        let mut signal = [0i16; FRAME_SAMPLES];
        let mut rest = payload;
        while !rest.is_empty() {
            let (frame, sid) = if rest.len() >= FRAME_BYTES {
                (&rest[..FRAME_BYTES], false)
            } else if rest.len() >= SID_BYTES {
                (&rest[..SID_BYTES], true)
            } else {
                break;
            };
            // SAFETY: the context is live; bcg729 reads `frame.len()` bytes and writes 80
            // samples into `signal`.
            unsafe {
                bcg729Decoder(
                    self.context.as_ptr(),
                    frame.as_ptr(),
                    frame.len() as u8,
                    0,
                    u8::from(sid),
                    0,
                    signal.as_mut_ptr(),
                );
            }
            out.extend_from_slice(&signal);
            rest = &rest[frame.len()..];
        }
    }
}

impl Drop for G729Decoder {
    fn drop(&mut self) {
        // SAFETY: the context came from initBcg729DecoderChannel and is closed once.
        unsafe { closeBcg729DecoderChannel(self.context.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_frames_and_sid() {
        let mut decoder = G729Decoder::new().unwrap();
        let mut out = Vec::new();
        decoder.decode(&[0x55; 20], &mut out);
        assert_eq!(out.len(), 160);
        decoder.decode(&[0x12, 0x34], &mut out);
        assert_eq!(out.len(), 240);
        decoder.decode(&[0x01], &mut out);
        assert_eq!(out.len(), 240, "a stray byte is not a frame");
    }
}
