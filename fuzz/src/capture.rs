//! The capture-file reader (`recorder::capture::file`) and the types it needs, without the
//! live sources.

#[path = "../../recorder/src/capture/file.rs"]
pub mod file;
#[path = "../../recorder/src/capture/frame.rs"]
mod frame;

pub use file::FileSource;
pub use frame::{CaptureError, Frame};
