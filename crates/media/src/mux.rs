//! An MPEG-TS muxer that writes into memory, one HLS segment at a time.
//!
//! ffmpeg-next only opens outputs by path, so this wraps the raw API with a
//! custom AVIOContext. Like FFmpeg's own hls muxer, one muxer runs for the whole
//! title (continuity counters and timestamps carry on across segments); at each
//! cut it flushes the muxer's buffered PES data and asks for PAT/PMT again so
//! every segment starts decodable on its own. Bytes are taken out in chunks as
//! they accumulate, so memory does not grow with segment size. H.264 from MP4
//! reaches the muxer already in Annex B with its delimiter (`annexb`), which
//! spares FFmpeg two copies of every video packet.

use std::ffi::{c_int, c_void, CString};
use std::ptr;
use std::sync::mpsc;

use ff::ffi;
use ff::packet::{Mut as _, Ref as _};
use ffmpeg_next as ff;

use super::annexb::AnnexB;

/// Bytes handed over at a time (`segment::Event::Data`): the muxer's sink is
/// taken once it holds this much.
pub const CHUNK: usize = 256 * 1024;

/// Muxer output buffer; avio calls back into it whenever its own buffer fills.
const AVIO_BUF: usize = 256 * 1024;

unsafe extern "C" fn write_cb(opaque: *mut c_void, buf: *mut u8, size: c_int) -> c_int {
    // SAFETY: opaque is the Box<Vec<u8>> owned by the TsMuxer, alive while ctx
    // is, and avio hands over `size` readable bytes at `buf`.
    unsafe {
        let sink = &mut *(opaque as *mut Vec<u8>);
        sink.extend_from_slice(std::slice::from_raw_parts(buf, size.max(0) as usize));
    }
    size
}

pub struct TsMuxer {
    ctx: *mut ffi::AVFormatContext,
    sink: *mut Vec<u8>,
    /// Per output stream: the input time base packets arrive in.
    in_tb: Vec<ff::Rational>,
    /// Emptied buffers handed back by whoever took the bytes, to fill again.
    spares: Option<mpsc::Receiver<Vec<u8>>>,
    /// For H.264 from MP4: the conversion to Annex B done here, once, rather
    /// than by FFmpeg's filter and then again by its muxer (see `annexb`).
    annexb: Option<AnnexB>,
    /// For H.264 that arrives in Annex B (MPEG-TS input): its SPS and PPS
    /// from the stream's extradata, to put in front of a segment's first
    /// picture when it is not an IDR (`repeat_parameter_sets`).
    annexb_params: Option<Vec<u8>>,
    /// `repeat_parameter_sets` was asked for and the next video packet is due.
    repeat_annexb: bool,
    /// The converted packet, its buffer reused from packet to packet.
    converted: Vec<u8>,
    /// The packet handed to the muxer in place of the original: its
    /// properties, and `converted`'s bytes (not owned: no `buf`).
    scratch: ff::Packet,
    /// Ticks of 90 kHz added to every time stamp (`start_at_zero`).
    offset: i64,
}

// SAFETY: the muxer is used from one thread at a time; FFmpeg contexts are not
// tied to the thread that made them.
unsafe impl Send for TsMuxer {}

fn check(ret: c_int, op: &'static str) -> Result<c_int, (&'static str, ff::Error)> {
    if ret < 0 {
        Err((op, ff::Error::from(ret)))
    } else {
        Ok(ret)
    }
}

impl TsMuxer {
    /// A muxer carrying copies of the given streams, in order.
    pub fn new(
        streams: &[(&ff::codec::Parameters, ff::Rational)],
    ) -> Result<Self, (&'static str, ff::Error)> {
        // SAFETY: plain FFmpeg API use; every allocation is owned by `me` as soon
        // as it exists, so Drop frees it on every early return.
        unsafe {
            let mut me = TsMuxer {
                ctx: ptr::null_mut(),
                sink: Box::into_raw(Box::new(Vec::new())),
                in_tb: Vec::new(),
                spares: None,
                annexb: None,
                annexb_params: None,
                repeat_annexb: false,
                converted: Vec::new(),
                scratch: ff::Packet::empty(),
                offset: 0,
            };
            let fmt = CString::new("mpegts").expect("no NUL");
            check(
                ffi::avformat_alloc_output_context2(
                    &mut me.ctx,
                    ptr::null(),
                    fmt.as_ptr(),
                    ptr::null(),
                ),
                "create the MPEG-TS muxer",
            )?;
            let buf = ffi::av_malloc(AVIO_BUF) as *mut u8;
            if buf.is_null() {
                return Err((
                    "allocate",
                    ff::Error::Other {
                        errno: libc_enomem(),
                    },
                ));
            }
            let pb = ffi::avio_alloc_context(
                buf,
                AVIO_BUF as c_int,
                1,
                me.sink as *mut c_void,
                None,
                Some(write_cb),
                None,
            );
            if pb.is_null() {
                ffi::av_free(buf as *mut c_void);
                return Err((
                    "allocate",
                    ff::Error::Other {
                        errno: libc_enomem(),
                    },
                ));
            }
            (*me.ctx).pb = pb;
            // By default (-1) a muxer flushes its output after every packet
            // when that output cannot seek, as ours cannot: one `write_cb` per
            // packet, and chunks whose lengths are not whole AES blocks, which
            // the encryptor then has to shift by the carried bytes. With 0 the
            // buffer is handed over only when full (256 KiB) and at `cut`.
            (*me.ctx).flush_packets = 0;
            (*me.ctx).flags |=
                ffi::AVFMT_FLAG_CUSTOM_IO as c_int | ffi::AVFMT_FLAG_BITEXACT as c_int;
            for (par, tb) in streams {
                let st = ffi::avformat_new_stream(me.ctx, ptr::null());
                if st.is_null() {
                    return Err((
                        "add a stream",
                        ff::Error::Other {
                            errno: libc_enomem(),
                        },
                    ));
                }
                check(
                    ffi::avcodec_parameters_copy((*st).codecpar, par.as_ptr()),
                    "copy stream parameters",
                )?;
                (*(*st).codecpar).codec_tag = 0;
                (*st).time_base = (*tb).into();
                if me.in_tb.is_empty()
                    && (*par.as_ptr()).codec_id == ffi::AVCodecID::AV_CODEC_ID_H264
                {
                    let extradata = super::codecs::extradata(&*par.as_ptr());
                    me.annexb = AnnexB::from_avcc(extradata);
                    if me.annexb.is_none() && super::gop::annexb_has_sps(extradata) {
                        me.annexb_params = Some(extradata.to_vec());
                    }
                }
                me.in_tb.push(*tb);
            }
            check(
                ffi::avformat_write_header(me.ctx, ptr::null_mut()),
                "start the MPEG-TS muxer",
            )?;
            Ok(me)
        }
    }

    /// Writes one packet (its timestamps in the input stream's time base).
    /// The packet is taken, not borrowed: its time stamps are rescaled to the
    /// muxer's 90 kHz in place, so a caller that read them afterwards would
    /// take ticks of one time base for the other.
    pub fn write(
        &mut self,
        mut pkt: ff::Packet,
        out_index: usize,
    ) -> Result<(), (&'static str, ff::Error)> {
        // SAFETY: ctx is a live muxer with out_index < nb_streams.
        unsafe {
            let st = *(*self.ctx).streams.add(out_index);
            pkt.rescale_ts(self.in_tb[out_index], ff::Rational::from((*st).time_base));
            if self.offset != 0 {
                pkt.set_pts(pkt.pts().map(|t| t + self.offset));
                pkt.set_dts(pkt.dts().map(|t| t + self.offset));
            }
            pkt.set_stream(out_index);
            pkt.set_position(-1);
            let repeat = out_index == 0 && std::mem::take(&mut self.repeat_annexb);
            let at = match (&mut self.annexb, &self.annexb_params, out_index) {
                (Some(conv), _, 0) => Some(
                    conv.convert(pkt.data().unwrap_or(&[]), &mut self.converted)
                        // What FFmpeg's own filter returns for such a packet.
                        .map_err(|_| ("write a packet", ff::Error::InvalidData))?,
                ),
                (None, Some(params), 0) if repeat => {
                    let data = pkt.data().unwrap_or(&[]);
                    super::gop::with_parameter_sets(data, params, &mut self.converted).then_some(0)
                }
                _ => None,
            };
            let out = match at {
                Some(at) => {
                    let bytes = &self.converted[at..];
                    let s = self.scratch.as_mut_ptr();
                    // Drops the last packet's side data; `buf` is always NULL here.
                    ffi::av_packet_unref(s);
                    check(ffi::av_packet_copy_props(s, pkt.as_ptr()), "write a packet")?;
                    (*s).data = bytes.as_ptr() as *mut u8;
                    (*s).size = bytes.len() as c_int;
                    s
                }
                _ => pkt.as_mut_ptr(),
            };
            // Without a `buf` the muxer does not keep the packet past this
            // call, and unref (next packet, or drop) leaves `data` alone.
            check(ffi::av_write_frame(self.ctx, out), "write a packet")?;
        }
        Ok(())
    }

    /// Shifts every stream by one offset so that none of `firsts` (time
    /// stamps, in the input time base of the output stream given with each)
    /// is written below zero; called before the first packet. FFmpeg's muxer
    /// shifts by itself only when the very first packet written is negative,
    /// and never again: a keyframe at 0 written before AAC's priming at
    /// -1024/48000 s left the audio's first PES with a time stamp wrapped
    /// to 2^33 - 1920 (about 95443 s). One offset for all keeps A/V sync.
    pub fn start_at_zero(&mut self, firsts: &[(i64, usize)]) {
        let lowest = firsts
            .iter()
            .map(|&(ts, i)| {
                // SAFETY: ctx is a live muxer and every index given is one
                // of its streams; rescaling only reads the two rationals.
                unsafe {
                    let st = *(*self.ctx).streams.add(i);
                    ffi::av_rescale_q(ts, self.in_tb[i].into(), (*st).time_base)
                }
            })
            .min()
            .unwrap_or(0);
        self.offset = (-lowest).max(0);
    }

    /// The next video packet begins a segment at a keyframe that is not an
    /// IDR picture: H.264 gets its parameter sets repeated in front of it,
    /// from the avcC (`AnnexB::repeat_parameter_sets`) or, for Annex B input,
    /// from the extradata unless the packet carries its own. (FFmpeg's muxer
    /// adds them only in front of IDR pictures.) HEVC needs nothing: FFmpeg's
    /// filter puts them in front of every IRAP picture.
    pub fn repeat_parameter_sets(&mut self) {
        if let Some(conv) = &mut self.annexb {
            conv.repeat_parameter_sets();
        }
        self.repeat_annexb = self.annexb_params.is_some();
    }

    /// The next video packet is an IDR picture after pictures with
    /// parameter sets of their own (`editlist`): it gets the stream's
    /// (`AnnexB::forget_in_band_sets`).
    pub fn restore_parameter_sets(&mut self) {
        if let Some(conv) = &mut self.annexb {
            conv.forget_in_band_sets();
        }
    }

    /// Bytes muxed and not yet taken.
    pub fn pending(&self) -> usize {
        // SAFETY: sink is live until free().
        unsafe { (*self.sink).len() }
    }

    /// Fills the buffers that come back on `spares` (emptied) rather than new
    /// ones. A new buffer of this size is a new mapping that the kernel faults
    /// in and zeroes page by page, and that the taker's free unmaps again.
    pub fn recycle(&mut self, spares: mpsc::Receiver<Vec<u8>>) {
        self.spares = Some(spares);
    }

    /// Takes the bytes muxed so far.
    pub fn take(&mut self) -> Vec<u8> {
        let fresh = self
            .spares
            .as_ref()
            .and_then(|r| r.try_recv().ok())
            .filter(Vec::is_empty)
            .unwrap_or_else(|| Vec::with_capacity(CHUNK + AVIO_BUF));
        // SAFETY: sink is live until free(); FFmpeg only touches it inside calls.
        unsafe { std::mem::replace(&mut *self.sink, fresh) }
    }

    /// Ends the current segment: flushes buffered PES data and returns the
    /// segment's remaining bytes.
    pub fn cut(&mut self) -> Result<Vec<u8>, (&'static str, ff::Error)> {
        // SAFETY: ctx and its pb are live; the flag name and value are static.
        unsafe {
            // A NULL packet makes a muxer with AVFMT_ALLOW_FLUSH (mpegts) emit what it buffers.
            check(
                ffi::av_write_frame(self.ctx, ptr::null_mut()),
                "flush the muxer",
            )?;
            ffi::avio_flush((*self.ctx).pb);
            let name = CString::new("mpegts_flags").expect("no NUL");
            let val = CString::new("resend_headers").expect("no NUL");
            ffi::av_opt_set((*self.ctx).priv_data, name.as_ptr(), val.as_ptr(), 0);
            Ok(self.take())
        }
    }

    /// Writes the trailer and returns the last segment's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, (&'static str, ff::Error)> {
        // SAFETY: ctx is live; the trailer is written once, Drop frees after.
        unsafe {
            check(ffi::av_write_trailer(self.ctx), "finish the MPEG-TS muxer")?;
            ffi::avio_flush((*self.ctx).pb);
            let out = std::mem::take(&mut *self.sink);
            self.free();
            Ok(out)
        }
    }

    /// # Safety
    /// `ctx` and `sink` are null or what `new` allocated, and nothing else
    /// holds them; each is freed once and nulled.
    unsafe fn free(&mut self) {
        if !self.ctx.is_null() {
            // SAFETY: ctx is this muxer's own context (see above), and pb its
            // own avio context with the buffer avio allocated.
            unsafe {
                let mut pb = (*self.ctx).pb;
                if !pb.is_null() {
                    ffi::av_freep(&mut (*pb).buffer as *mut *mut u8 as *mut c_void);
                    ffi::avio_context_free(&mut pb);
                    (*self.ctx).pb = ptr::null_mut();
                }
                ffi::avformat_free_context(self.ctx);
            }
            self.ctx = ptr::null_mut();
        }
        if !self.sink.is_null() {
            // SAFETY: sink came from Box::into_raw in `new` and is freed once.
            drop(unsafe { Box::from_raw(self.sink) });
            self.sink = ptr::null_mut();
        }
    }
}

impl Drop for TsMuxer {
    fn drop(&mut self) {
        // SAFETY: free is idempotent and only frees what this muxer owns.
        unsafe { self.free() }
    }
}

fn libc_enomem() -> i32 {
    12
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{open_input_with, Probe};

    /// Muxes every packet of `path`, cutting at each video keyframe, with
    /// the Annex B conversion done here or (`ours == false`) left to FFmpeg.
    fn mux_all(path: &std::path::Path, ours: bool) -> Vec<u8> {
        let mut ictx = open_input_with(path, Probe::Headers).expect("fixture opens");
        let params: Vec<(ff::codec::Parameters, ff::Rational)> = ictx
            .streams()
            .map(|s| (s.parameters(), s.time_base()))
            .collect();
        let refs: Vec<_> = params.iter().map(|(p, t)| (p, *t)).collect();
        let mut mux = TsMuxer::new(&refs).expect("muxer starts");
        assert!(
            mux.annexb.is_some(),
            "{}: H.264 with an avcC comes first",
            path.display()
        );
        if !ours {
            mux.annexb = None;
        }
        let mut out = Vec::new();
        let mut seen_key = false;
        for (stream, packet) in ictx.packets() {
            let index = stream.index();
            if index == 0 && packet.is_key() && seen_key {
                out.extend(mux.cut().expect("cut"));
            }
            seen_key |= index == 0 && packet.is_key();
            mux.write(packet, index).expect("packet muxes");
            out.extend(mux.take());
        }
        out.extend(mux.finish().expect("muxer finishes"));
        out
    }

    #[test]
    fn our_annexb_conversion_muxes_the_same_bytes_as_ffmpegs_filter() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        for name in ["clip.mp4", "clip.mkv"] {
            let path = fixtures.join(name);
            let ours = mux_all(&path, true);
            let theirs = mux_all(&path, false);
            assert!(
                ours.len() > 100_000,
                "{name}: only {} bytes muxed",
                ours.len()
            );
            assert!(ours == theirs, "{name}: the two conversions differ");
        }
    }
}
