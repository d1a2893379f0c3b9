//! The segment format stage of the pipeline: one trait, [`SegmentMuxer`],
//! that `segment` feeds packets and cuts, with one implementation per
//! container: MPEG-TS (`mux::TsMuxer`, through FFmpeg) and fragmented MP4
//! (`fmp4::Fmp4Muxer`, shieldpack's own box writer). Everything else (the cut
//! plan, keys, policy, playlists) is the same pipeline for both.

use std::sync::mpsc;

use ffmpeg_next as ff;

use super::mux::TsMuxer;

/// The container segments are written in (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Container {
    /// MPEG-TS segments (`seg_NNNNN.ts`).
    #[default]
    Ts,
    /// CMAF: an init segment (`init.mp4`) and fragmented MP4 media segments
    /// (`seg_NNNNN.m4s`), one `moof` + `mdat` each.
    Cmaf,
}

impl Container {
    /// The media segments' file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Container::Ts => "ts",
            Container::Cmaf => "m4s",
        }
    }
}

/// A muxer failure: what it was doing, and FFmpeg's error (or the closest
/// FFmpeg error for a failure of our own muxer).
pub type MuxError = (&'static str, ff::Error);

/// A muxer that writes one segment at a time into memory. Stream 0 is the
/// video, stream 1 the audio; packets carry the input's time stamps.
pub trait SegmentMuxer: Send {
    /// Shifts every stream by one offset so that none of `firsts` (time
    /// stamps in the input time base of the stream given with each) is
    /// written below zero; called before the first packet.
    fn start_at_zero(&mut self, firsts: &[(i64, usize)]);
    /// Writes one packet to output stream `out_index`.
    fn write(&mut self, pkt: ff::Packet, out_index: usize) -> Result<(), MuxError>;
    /// The next video packet begins a segment at a keyframe that is not a
    /// closed start: a format that carries parameter sets in band repeats them.
    fn repeat_parameter_sets(&mut self);
    /// The next video packet is an IDR picture after re-encoded pictures
    /// with parameter sets of their own (`editlist`): it gets the stream's.
    fn restore_parameter_sets(&mut self) {}
    /// Bytes muxed and not yet taken.
    fn pending(&self) -> usize;
    /// Fills the buffers that come back on `spares` rather than new ones.
    fn recycle(&mut self, spares: mpsc::Receiver<Vec<u8>>);
    /// Takes the bytes muxed so far.
    fn take(&mut self) -> Vec<u8>;
    /// Ends the current segment and returns its remaining bytes.
    fn cut(&mut self) -> Result<Vec<u8>, MuxError>;
    /// `cut`, as a buffer whose bytes begin at the offset returned with
    /// it: a muxer that put its header in front of the samples, rather than
    /// move them behind the header, says where it starts.
    fn cut_from(&mut self) -> Result<(Vec<u8>, usize), MuxError> {
        Ok((self.cut()?, 0))
    }
    /// Ends the last segment and returns its remaining bytes.
    fn finish(self: Box<Self>) -> Result<Vec<u8>, MuxError>;
    /// The initialisation segment every media segment needs, for formats
    /// that have one (fragmented MP4's `init.mp4`).
    fn init_segment(&self) -> Option<Vec<u8>> {
        None
    }
}

impl SegmentMuxer for TsMuxer {
    fn start_at_zero(&mut self, firsts: &[(i64, usize)]) {
        TsMuxer::start_at_zero(self, firsts)
    }
    fn write(&mut self, pkt: ff::Packet, out_index: usize) -> Result<(), MuxError> {
        TsMuxer::write(self, pkt, out_index)
    }
    fn repeat_parameter_sets(&mut self) {
        TsMuxer::repeat_parameter_sets(self)
    }
    fn restore_parameter_sets(&mut self) {
        TsMuxer::restore_parameter_sets(self)
    }
    fn pending(&self) -> usize {
        TsMuxer::pending(self)
    }
    fn recycle(&mut self, spares: mpsc::Receiver<Vec<u8>>) {
        TsMuxer::recycle(self, spares)
    }
    fn take(&mut self) -> Vec<u8> {
        TsMuxer::take(self)
    }
    fn cut(&mut self) -> Result<Vec<u8>, MuxError> {
        TsMuxer::cut(self)
    }
    fn finish(self: Box<Self>) -> Result<Vec<u8>, MuxError> {
        TsMuxer::finish(*self)
    }
}
