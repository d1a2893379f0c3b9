//! Whether one H.264 access unit decodes without a single error, for
//! `verify` of SAMPLE-AES segments: with no padding to check, a wrong key or
//! a damaged encrypted block only shows as slice data the decoder rejects.

use ffmpeg_next as ff;

/// Decodes `annexb` (one access unit in Annex B, with the SPS and PPS it
/// needs in band) with FFmpeg's H.264 decoder set to stop at the first
/// error; `Err` says what the decoder said.
pub fn h264_decodes(annexb: &[u8]) -> Result<(), String> {
    super::init();
    let codec = ff::decoder::find(ff::codec::Id::H264).ok_or("FFmpeg has no H.264 decoder")?;
    let mut ctx = ff::codec::context::Context::new_with_codec(codec);
    // SAFETY: `ctx` owns a valid AVCodecContext that is not opened yet;
    // these are plain fields FFmpeg reads when it opens the decoder.
    unsafe {
        let raw = ctx.as_mut_ptr();
        (*raw).err_recognition |= ff::ffi::AV_EF_EXPLODE;
        (*raw).thread_count = 1;
    }
    let mut dec = ctx
        .decoder()
        .video()
        .map_err(|e| format!("cannot open FFmpeg's H.264 decoder: {e}"))?;
    let bad = |e: ff::Error| format!("the decoder rejects it ({e})");
    dec.send_packet(&ff::Packet::copy(annexb)).map_err(bad)?;
    dec.send_eof().map_err(bad)?;
    let mut frame = ff::frame::Video::empty();
    dec.receive_frame(&mut frame).map_err(bad)?;
    if frame.flags().contains(ff::frame::Flags::CORRUPT) || frame.is_corrupt() {
        return Err("the decoder marks the picture corrupt".into());
    }
    Ok(())
}
