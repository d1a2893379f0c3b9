//! Decode time stamps for a remux, repaired as the `ffmpeg` command does.
//!
//! A muxer needs every packet's DTS, strictly increasing within a stream and
//! never after its PTS (FFmpeg's `compute_muxer_pkt_fields` refuses anything
//! else with EINVAL). Containers do not always give one: Matroska stores
//! presentation times only, and FFmpeg's demuxer derives DTS from them with a
//! buffer as deep as the stream's reorder delay, so the first packets of a
//! stream with B-frames come with none. When the packets have no duration
//! either (a VFR file muxed in a 1 ms time base), the muxer's own guess gives
//! the second packet the first one's DTS and the remux fails, where
//! `ffmpeg -c copy` succeeds: the ffmpeg command fills a missing DTS itself,
//! starting `delay` frames before the first PTS and stepping by the frame
//! duration, and moves a DTS that does not increase (`ffmpeg_mux.c`).
//!
//! `Dts::fix` does the same, in the input stream's time base: a missing DTS
//! is guessed (the first from the PTS less `delay` frames, later ones from
//! the previous DTS plus the packet's duration, or a frame), then every DTS
//! is kept strictly after the previous one and at or before its own PTS.
//! Presentation times are never changed: they are what players show. When
//! no DTS fits (the PTS is not after the previous DTS), the packet is
//! refused with that reason, which the caller reports with the packet.

use std::path::Path;

use ffmpeg_next as ff;

use super::{next_packet, open_input_with, Probe, Selection};
use shieldpack_core::error::{Error, Result};

/// The repair of the selected streams' packets, in file order, as both
/// `package` (`segment`) and `inspect` (`check`) do it, so they agree on what
/// can be packaged.
pub(crate) struct Repair {
    video: usize,
    audio: Option<usize>,
    /// Seconds per tick of each stream's time base.
    v_sec: f64,
    a_sec: f64,
    v: Dts,
    a: Dts,
    /// Packets read per selected stream (video, audio), to name one.
    read: [u64; 2],
}

impl Repair {
    pub(crate) fn new(ictx: &ff::format::context::Input, selection: &Selection) -> Self {
        let v = ictx
            .stream(selection.video.index)
            .expect("selected stream exists");
        // SAFETY: the stream's parameters live as long as `ictx` and are only read.
        let delay = unsafe { (*v.parameters().as_ptr()).video_delay };
        let v_sec = f64::from(v.time_base());
        // One frame in ticks, for a packet that does not say how long it is.
        let frame = selection
            .video
            .frame_rate
            .filter(|r| *r > 0.0 && v_sec > 0.0)
            .map_or(1, |r| (1.0 / (r * v_sec)).round() as i64);
        let a_sec = selection
            .audio
            .as_ref()
            .and_then(|a| ictx.stream(a.index))
            .map_or(0.0, |a| f64::from(a.time_base()));
        Repair {
            video: selection.video.index,
            audio: selection.audio.as_ref().map(|a| a.index),
            v_sec,
            a_sec,
            v: Dts::new(i64::from(delay), frame),
            a: Dts::new(0, 1),
            read: [0; 2],
        }
    }

    /// Gives `packet` a DTS that a muxer takes; None for a stream that is not
    /// selected, else the packet as an error would name it. Fails, naming
    /// the packet, when no DTS fits.
    pub(crate) fn apply(&mut self, path: &Path, packet: &mut ff::Packet) -> Result<Option<At>> {
        let si = packet.stream();
        let (kind, sec, dts, n) = if si == self.video {
            ("video", self.v_sec, &mut self.v, &mut self.read[0])
        } else if Some(si) == self.audio {
            ("audio", self.a_sec, &mut self.a, &mut self.read[1])
        } else {
            return Ok(None);
        };
        let mut at = At {
            kind,
            stream: si,
            index: *n,
            time: packet.pts().or(packet.dts()).unwrap_or(0) as f64 * sec,
            pts: packet.pts(),
            dts: packet.dts(),
        };
        *n += 1;
        match dts.fix(packet.pts(), packet.dts(), packet.duration()) {
            Ok(Some(d)) => packet.set_dts(Some(d)),
            Ok(None) => {}
            Err(why) => return Err(at.refused(path, why.to_string())),
        }
        at.dts = packet.dts();
        Ok(Some(at))
    }
}

/// Reads every packet of `path`'s selected streams through `Repair`, as
/// `package` will: `inspect`'s check that the time stamps can be packaged.
/// Reads the whole file (no decoding).
pub fn check(path: &Path, selection: &Selection) -> Result<()> {
    let mut ictx = open_input_with(path, Probe::Headers)?;
    let mut repair = Repair::new(&ictx, selection);
    while let Some(mut packet) = next_packet(&mut ictx).map_err(|e| Error::Truncated {
        path: path.into(),
        reason: format!("reading stopped: {e}"),
    })? {
        repair.apply(path, &mut packet)?;
    }
    Ok(())
}

/// One packet of the input, as an error names it.
pub(crate) struct At {
    kind: &'static str,
    stream: usize,
    /// Among the stream's packets, from 0.
    index: u64,
    /// Seconds, as read.
    time: f64,
    /// Its time stamps in ticks of the stream's time base: PTS as read, DTS
    /// as repaired.
    pts: Option<i64>,
    dts: Option<i64>,
}

impl At {
    fn refused(&self, path: &Path, why: String) -> Error {
        Error::PacketRefused {
            path: path.into(),
            kind: self.kind,
            stream: self.stream,
            index: self.index,
            time: self.time,
            why,
        }
    }

    /// Names this packet in the muxer's refusal to write it; other errors
    /// pass unchanged.
    pub(crate) fn wrap(&self, path: &Path, e: Error) -> Error {
        match e {
            Error::Ffmpeg {
                op: "write a packet",
                err,
                ..
            } => {
                let ts = |t: Option<i64>| t.map_or("none".to_string(), |t| t.to_string());
                self.refused(
                    path,
                    format!(
                        "FFmpeg's MPEG-TS muxer refused it ({err}) with PTS {} and DTS {} (ticks of the stream's time base)",
                        ts(self.pts),
                        ts(self.dts)
                    ),
                )
            }
            e => e,
        }
    }
}

/// The repair state of one stream.
#[derive(Debug, Clone)]
pub struct Dts {
    /// Frames of reorder delay (the codec's `video_delay`; 0 for audio).
    delay: i64,
    /// Ticks of one frame, for a packet that does not say its duration.
    frame: i64,
    /// The DTS of the packet before, as fixed.
    last: Option<i64>,
}

/// Why no DTS fits a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoDts {
    pub pts: i64,
    pub previous_dts: i64,
}

impl std::fmt::Display for NoDts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "its presentation time ({} ticks) is not after the decode time of the packet before it ({} ticks), so no decode time fits",
            self.pts, self.previous_dts
        )
    }
}

impl Dts {
    /// A stream with `delay` frames of reordering and frames `frame` ticks long.
    pub fn new(delay: i64, frame: i64) -> Self {
        Dts {
            delay: delay.max(0),
            frame: frame.max(1),
            last: None,
        }
    }

    /// The DTS to write for a packet with these time stamps and `duration`
    /// ticks (0: not given); the PTS stays as it is. Returns None when the
    /// packet has neither time stamp and none went before (nothing to go by).
    pub fn fix(
        &mut self,
        pts: Option<i64>,
        dts: Option<i64>,
        duration: i64,
    ) -> Result<Option<i64>, NoDts> {
        let step = if duration > 0 { duration } else { self.frame };
        let guess = match (dts, pts, self.last) {
            (Some(d), _, _) => d,
            (None, Some(p), None) => p - self.delay * self.frame,
            (None, Some(p), Some(_)) if self.delay == 0 => p,
            (None, _, Some(l)) => l + step,
            (None, None, None) => return Ok(None),
        };
        let lowest = self.last.map_or(i64::MIN, |l| l + 1);
        let mut fixed = guess.max(lowest);
        if let Some(p) = pts {
            if p < lowest {
                return Err(NoDts {
                    pts: p,
                    previous_dts: self.last.unwrap_or(p),
                });
            }
            fixed = fixed.min(p);
        }
        self.last = Some(fixed);
        Ok(Some(fixed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixes a run of (pts, dts, duration), panicking on a refusal.
    fn run(d: &mut Dts, packets: &[(Option<i64>, Option<i64>, i64)]) -> Vec<i64> {
        packets
            .iter()
            .map(|&(p, t, dur)| d.fix(p, t, dur).expect("fits").expect("known"))
            .collect()
    }

    #[test]
    fn valid_time_stamps_are_left_alone() {
        let mut d = Dts::new(2, 42);
        let packets = [
            (Some(84), Some(0), 42),
            (Some(210), Some(42), 42),
            (Some(126), Some(84), 42),
            (Some(168), Some(126), 42),
        ];
        assert_eq!(run(&mut d, &packets), vec![0, 42, 84, 126]);
    }

    #[test]
    fn missing_leading_dts_of_a_b_frame_stream_is_filled_before_the_pts() {
        // What FFmpeg's Matroska demuxer gives for x264 with a B-pyramid in
        // a 1 ms time base without durations: no DTS on the first two.
        let mut d = Dts::new(2, 42);
        let packets = [
            (Some(23), None, 0),
            (Some(106), None, 0),
            (Some(65), Some(23), 0),
            (Some(190), Some(65), 0),
            (Some(148), Some(106), 0),
        ];
        let dts = run(&mut d, &packets);
        assert_eq!(dts, vec![23 - 84, 23 - 42, 23, 65, 106]);
        for (w, (p, ..)) in dts.windows(2).zip(&packets[1..]) {
            assert!(w[1] > w[0], "DTS increases: {dts:?}");
            assert!(w[1] <= p.unwrap(), "DTS at or before PTS: {dts:?}");
        }
    }

    #[test]
    fn a_repeated_or_late_dts_is_moved_to_fit() {
        let mut d = Dts::new(0, 40);
        // Repeated: moved one tick on. After its PTS: brought back to it.
        let packets = [
            (Some(0), Some(0), 40),
            (Some(40), Some(0), 40),
            (Some(80), Some(90), 40),
            (None, None, 40),
        ];
        assert_eq!(run(&mut d, &packets), vec![0, 1, 80, 120]);
    }

    #[test]
    fn audio_without_dts_takes_its_pts() {
        let mut d = Dts::new(0, 1024);
        let packets = [(Some(-1024), None, 1024), (Some(0), None, 1024)];
        assert_eq!(run(&mut d, &packets), vec![-1024, 0]);
    }

    #[test]
    fn a_pts_not_after_the_previous_dts_is_refused_with_both() {
        let mut d = Dts::new(0, 40);
        d.fix(Some(100), Some(100), 40).unwrap();
        let err = d.fix(Some(100), None, 40).unwrap_err();
        assert_eq!(
            err,
            NoDts {
                pts: 100,
                previous_dts: 100
            }
        );
        assert!(err.to_string().contains("not after the decode time"));
    }

    #[test]
    fn nothing_to_go_by_is_none() {
        assert_eq!(Dts::new(0, 40).fix(None, None, 40), Ok(None));
    }
}
