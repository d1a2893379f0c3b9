//! Scene policies with common encryption (cmaf `cenc`, `cbcs`): a clear
//! scene's segments are clear fragments under the protected init segment
//! (`mp4::recrypt::mark_clear`: a `seig` entry with `isProtected = 0`, no
//! `senc`), with `EXT-X-KEY:METHOD=NONE` before them in HLS; DASH needs
//! nothing more, since the samples say so themselves. A segment that turns
//! out to hold the start of a stronger scene is moved to that scene's key
//! sample by sample (`Writer::protect_as_common`), as TS moves whole
//! segments.

use std::path::Path;

use shieldpack_core::error::{Error, Result};
use shieldpack_mp4::{self as mp4, recrypt};

use crate::{cmaf, segment_key, Current, Region, SceneTag, Writer};

fn mp4_err(path: &Path, what: &str, e: mp4::Error) -> Error {
    Error::invalid_file(
        path,
        format!("{what}: {e}"),
        "this is a bug in shieldpack's fMP4 writer: please report it with the input's `ffprobe -show_streams` output",
    )
}

/// The clear media segment `clear` as a clear fragment under the protected
/// `init`.
pub(crate) fn clear_segment(path: &Path, clear: &[u8], init: &mp4::InitSegment) -> Result<Vec<u8>> {
    let mut seg =
        mp4::MediaSegment::parse(clear).map_err(|e| mp4_err(path, "a media segment", e))?;
    recrypt::mark_clear(&mut seg, init).map_err(|e| mp4_err(path, "marking a clear segment", e))?;
    Ok(seg.to_bytes())
}

impl Writer<'_> {
    /// When no segment uses the init segment's default KID (a policy
    /// package that opens with a clear scene: the first period's key is
    /// never used), names the first KID the segments use instead, so that
    /// `tenc`, DASH's `cenc:default_KID` and HLS players that take the KID
    /// from the init segment (Shaka with "identity" keys) agree on a key that
    /// exists. Segments under that KID name it in their `seig` group too.
    pub(crate) fn default_kid_to_first_used(&mut self) -> Result<()> {
        let Some((_, _, name)) = self.start.as_ref() else {
            return Ok(());
        };
        let path = self.root.join(name).join("init.mp4");
        let Some(init) = self.init.as_mut() else {
            return Ok(());
        };
        let Some(current) = recrypt::default_kid(init) else {
            return Ok(());
        };
        let kids: Vec<&str> = self
            .records
            .iter()
            .filter_map(|r| r.kid.as_deref())
            .collect();
        let Some(first) = kids.first() else {
            return Ok(());
        };
        if kids.contains(&hex::encode(current).as_str()) {
            return Ok(());
        }
        let Some(kid) = hex::decode(first)
            .ok()
            .and_then(|v| <[u8; 16]>::try_from(v).ok())
        else {
            return Ok(());
        };
        recrypt::set_default_kid(init, kid);
        shieldpack_core::fsutil::write_file(&path, &init.to_bytes())
    }

    /// `protect_as` for common encryption: the finished segment (a clear
    /// fragment, or encrypted under its first period's key) read back,
    /// decrypted, and encrypted sample by sample under scene `j`'s key.
    pub(crate) fn protect_as_common(
        &mut self,
        cur: &mut Current,
        j: usize,
        index: usize,
        start: f64,
    ) -> Result<()> {
        let (Some(p), Some(kr), Some(init), Some(scheme)) = (
            self.policy,
            self.keyring,
            self.init.as_ref(),
            self.o.scheme.common(),
        ) else {
            return Ok(());
        };
        let o = self.o;
        // The IVs packaging gave this segment (`cmaf::iv_sequence`).
        let sequence = cmaf::iv_sequence(self.rendition_index, index)?;
        let buf = std::fs::read(&cur.path).map_err(|e| Error::io(&cur.path, e))?;
        let mut seg = mp4::MediaSegment::parse(&buf)
            .map_err(|e| mp4_err(&cur.path, "a media segment just written", e))?;
        let old = match cur.kid {
            Some(_) => Some(segment_key(
                o,
                kr,
                cur.period,
                sequence,
                self.rendition_index,
                self.track,
            )?),
            None => None,
        };
        if let Some(before) = cur.counter_before.clone() {
            self.counter = before;
        }
        cur.period = self.counter.next(Region::Scene(j), index, start);
        let k = segment_key(
            o,
            kr,
            cur.period,
            sequence,
            self.rendition_index,
            self.track,
        )?;
        // The rendition's one constant IV (cbcs), as `Event::Init` gives it.
        let constant_iv = cmaf::constant_iv(
            kr,
            &o.content_id,
            kr.generation_for(&o.content_id, 0),
            self.rendition_index,
        );
        let target = recrypt::Target {
            key: &k.key,
            kid: kr.scoped_kid(&o.content_id, k.generation, cur.period, self.track),
            constant_iv,
        };
        let old_key = old.as_ref().map(|s| &*s.key);
        recrypt::reencrypt(&mut seg, init, old_key, init, scheme, &target, sequence)
            .map_err(|e| mp4_err(&cur.path, "moving a segment to a stronger scene's key", e))?;
        let bytes = seg.to_bytes();
        let mut file = std::fs::File::create(&cur.path).map_err(|e| Error::io(&cur.path, e))?;
        std::io::Write::write_all(&mut file, &bytes).map_err(|e| Error::io(&cur.path, e))?;
        cur.file = file;
        cur.hasher = shieldpack_core::crypto::Sha256One::new();
        cur.hasher.update(&bytes);
        cur.size = bytes.len() as u64;
        let scene = &p.scenes[j];
        cur.scene = Some(SceneTag {
            label: scene.label.clone(),
            drm_level: scene.level,
            hdcp: scene.hdcp,
        });
        let before = cur.last_key_before;
        self.use_key(cur, k, before);
        Ok(())
    }
}
