//! `rekey` of a package's `--drm` signalling: the DRM systems' `pssh` boxes
//! in the init segments, their DASH `ContentProtection` elements and their
//! HLS `EXT-X-KEY` lines name KIDs (in protobuf, in PlayReady's UTF-16
//! `WRMHEADER`, in base64), so a new key's KID cannot be swapped in as text:
//! each is built again by `crate::drm`, the same builders `package` used,
//! from the systems and license URLs `manifest.json` records.
//!
//! Before anything is rebuilt, what the package holds is rebuilt for the old
//! KIDs and must come out byte for byte: signalling edited since, or a
//! provider's from its CPIX, is refused rather than replaced by something
//! else. Nothing here handles a content key.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use shieldpack_mp4::RawBox;

use crate::drm::{self, DrmOptions, DrmSystem};
use crate::error::{Error, Result};
use crate::hls::Key;
use crate::manifest::Manifest;

const AGAIN: &str = "package the title again (with the rotated keyring) instead of rekeying it";

/// The systems and options a package's signalling was built with.
pub(super) struct Signalling {
    systems: Vec<DrmSystem>,
    opts: DrmOptions,
}

impl Signalling {
    /// What `manifest.json` records (`drm`); None for a package made
    /// without `--drm`, or before that was recorded.
    pub(super) fn of(dir: &Path, manifest: &Manifest) -> Result<Option<Signalling>> {
        let Some(rec) = &manifest.drm else {
            return Ok(None);
        };
        let path = dir.join("manifest.json");
        if rec.cpix_pssh {
            return Err(cpix_refusal(&path));
        }
        let (systems, opts) =
            drm::from_record(rec, &manifest.content_id, &manifest.encryption, &path)?;
        Ok(Some(Signalling { systems, opts }))
    }

    /// Each system's `pssh` box for `kids`, in `--drm` order, as `package`
    /// puts them in `moov`.
    fn boxes(&self, kids: &[[u8; 16]]) -> Vec<u8> {
        self.systems
            .iter()
            .filter_map(|s| drm::pssh_box(*s, kids, &self.opts))
            .flatten()
            .collect()
    }

    /// The init segment's `pssh` boxes for `new_kids`, once `old` (the boxes
    /// in the init segment at `path`) proves to be what `package` wrote for
    /// `old_kids`.
    pub(super) fn pssh(
        &self,
        path: &Path,
        old: &[RawBox],
        old_kids: &[[u8; 16]],
        new_kids: &[[u8; 16]],
    ) -> Result<Vec<RawBox>> {
        let mut have = Vec::new();
        for b in old {
            b.write(&mut have);
        }
        if have != self.boxes(old_kids) {
            return Err(Error::invalid_file(
                path,
                format!(
                    "its DRM systems' pssh boxes are not the ones shieldpack builds for the systems manifest.json records ({}) and the segments' KIDs, so rekey cannot rebuild them for the new KIDs",
                    self.names()
                ),
                AGAIN,
            ));
        }
        RawBox::parse_all(&self.boxes(new_kids)).map_err(|e| {
            Error::invalid_file(
                path,
                format!("a rebuilt pssh box does not parse: {e}"),
                "please report this bug; the package is untouched",
            )
        })
    }

    fn names(&self) -> String {
        self.systems
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `manifest.mpd` (`text`, at `path`) with every KID in `moved` replaced
    /// by its new one: the DRM systems' `ContentProtection` elements built
    /// again, the others' `cenc:default_KID` replaced.
    pub(super) fn mpd(
        sig: Option<&Signalling>,
        path: &Path,
        text: &str,
        moved: &BTreeMap<[u8; 16], [u8; 16]>,
    ) -> Result<String> {
        const OPEN: &str = "<ContentProtection ";
        const CLOSE: &str = "</ContentProtection>";
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(OPEN) {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            let end = tail.find('>').map(|e| e + 1).unwrap_or(tail.len());
            let len = if tail[..end].ends_with("/>") {
                end
            } else {
                tail.find(CLOSE).map(|c| c + CLOSE.len()).ok_or_else(|| {
                    Error::invalid_file(
                        path,
                        "a ContentProtection element is not closed",
                        "`shieldpack verify` checks the package; package the title again",
                    )
                })?
            };
            let elem = &tail[..len];
            let system = attr(elem, "schemeIdUri").and_then(DrmSystem::from_dash_scheme);
            match (system, sig) {
                (Some(system), Some(sig)) => out.push_str(&sig.element(path, system, elem, moved)?),
                (Some(system), None) => {
                    return Err(Error::invalid_file(
                        path,
                        format!(
                            "signals {} (--drm), but manifest.json does not record the package's DRM systems, so rekey cannot rebuild their signalling for the new KIDs",
                            system.name()
                        ),
                        AGAIN,
                    ))
                }
                (None, _) => out.push_str(&replace_uuids(elem, moved)),
            }
            rest = &tail[len..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// One system's `ContentProtection` element built again for the new
    /// KIDs, once the old one proves to be what `package` wrote.
    fn element(
        &self,
        path: &Path,
        system: DrmSystem,
        elem: &str,
        moved: &BTreeMap<[u8; 16], [u8; 16]>,
    ) -> Result<String> {
        let unknown = || {
            Error::invalid_file(
                path,
                format!(
                    "its {} ContentProtection element is not the one shieldpack writes for the systems and license URLs manifest.json records ({}), so rekey cannot rebuild it for the new KIDs",
                    system.name(),
                    self.names()
                ),
                AGAIN,
            )
        };
        if !self.systems.contains(&system) {
            return Err(unknown());
        }
        let doc = roxmltree::Document::parse(elem).map_err(|_| unknown())?;
        let root = doc.root_element();
        let default = root
            .attribute(("urn:mpeg:cenc:2013", "default_KID"))
            .and_then(parse_uuid)
            .ok_or_else(unknown)?;
        let pssh = match root
            .children()
            .find(|n| n.has_tag_name(("urn:mpeg:cenc:2013", "pssh")))
        {
            Some(n) => {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(n.text().unwrap_or_default().trim())
                    .map_err(|_| unknown())?;
                Some(drm::pssh_kids(&b).ok_or_else(unknown)?.1)
            }
            None => None,
        };
        let build = |default: &[u8; 16], kids: Option<&Vec<[u8; 16]>>| {
            let b = kids.and_then(|k| drm::pssh_box(system, k, &self.opts));
            drm::dash_content_protection(system, default, b.as_deref(), &self.opts)
        };
        if build(&default, pssh.as_ref()) != elem {
            return Err(unknown());
        }
        let map = |k: &[u8; 16]| *moved.get(k).unwrap_or(k);
        let new_kids = pssh.map(|v| v.iter().map(map).collect::<Vec<_>>());
        Ok(build(&map(&default), new_kids.as_ref()))
    }

    /// A further system's `EXT-X-KEY` line (Widevine's, PlayReady's: their
    /// URI is the system's data for the KID) for the new KID `new`, once
    /// `key` proves to be what `package` wrote for `old`. None for a line of
    /// no such system (FairPlay's `skd://` URI takes the new KID as text).
    pub(super) fn hls_key(
        sig: Option<&Signalling>,
        playlist: &Path,
        key: &Key,
        old: &[u8; 16],
        new: &[u8; 16],
    ) -> Result<Option<Key>> {
        let Some(system) = [DrmSystem::Widevine, DrmSystem::PlayReady]
            .into_iter()
            .find(|s| key.keyformat.as_deref() == Some(s.hls_keyformat().as_str()))
        else {
            return Ok(None);
        };
        let unknown = |what: &str| {
            Error::invalid_file(
                playlist,
                format!(
                    "its {} EXT-X-KEY line {what}, so rekey cannot rebuild it for the new KID",
                    system.name()
                ),
                AGAIN,
            )
        };
        let Some(sig) = sig.filter(|s| s.systems.contains(&system)) else {
            return Err(unknown(
                "names a DRM system manifest.json does not record (--drm)",
            ));
        };
        let build = |kid: &[u8; 16]| {
            drm::hls_key_attrs(system, key.method.as_str(), kid, "", &sig.opts)
                .and_then(|a| Key::parse_attrs(&a).ok())
        };
        if build(old).as_ref() != Some(key) {
            return Err(unknown(
                "is not the one shieldpack writes for the license URLs manifest.json records",
            ));
        }
        Ok(build(new))
    }
}

/// The refusal of a package whose `pssh` data is a DRM provider's.
pub(super) fn cpix_refusal(manifest: &Path) -> Error {
    Error::invalid_file(
        manifest,
        "the package's DRM systems' pssh data came from a DRM provider's CPIX document (package --cpix), which only the provider can make for new KIDs",
        "rekey with a new CPIX is not supported: package the title again with `shieldpack package --cpix` and the provider's new document",
    )
}

/// The value of attribute `name` in the start tag of `elem`, as written
/// (`name="value"`).
fn attr<'a>(elem: &'a str, name: &str) -> Option<&'a str> {
    let start = &elem[..elem.find('>')?];
    let pat = format!(" {name}=\"");
    let v = &start[start.find(&pat)? + pat.len()..];
    Some(&v[..v.find('"')?])
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    hex::decode(s.replace('-', "")).ok()?.try_into().ok()
}

/// `text` with each old KID of `moved` in UUID form (either case) replaced
/// by the new one's.
fn replace_uuids(text: &str, moved: &BTreeMap<[u8; 16], [u8; 16]>) -> String {
    let mut t = text.to_string();
    for (o, n) in moved {
        let (o, n) = (drm::uuid(o), drm::uuid(n));
        t = t.replace(&o, &n).replace(&o.to_uppercase(), &n);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(systems: &[DrmSystem]) -> Signalling {
        let mut opts = DrmOptions {
            content_id: "t".into(),
            ..Default::default()
        };
        drm::add_license_url(&mut opts, "playready=https://pr.example.com/r?a=1&b=2").unwrap();
        drm::add_license_url(&mut opts, "widevine=https://wv.example.com/").unwrap();
        Signalling {
            systems: systems.to_vec(),
            opts,
        }
    }

    const OLD: [[u8; 16]; 2] = [[1; 16], [2; 16]];
    const NEW: [[u8; 16]; 2] = [[0xa1; 16], [0xa2; 16]];

    fn moved() -> BTreeMap<[u8; 16], [u8; 16]> {
        OLD.into_iter().zip(NEW).collect()
    }

    #[test]
    fn an_mpd_gets_each_systems_element_built_for_the_new_kids() {
        let all = [
            DrmSystem::ClearKey,
            DrmSystem::Widevine,
            DrmSystem::PlayReady,
        ];
        let s = sig(&all);
        let mpd = |kids: &[[u8; 16]]| {
            let mut m = format!(
                "<MPD>\n  <ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"cenc\" cenc:default_KID=\"{}\"/>\n",
                drm::uuid(&kids[0])
            );
            for sys in all {
                let b = drm::pssh_box(sys, kids, &s.opts);
                m.push_str("  ");
                m.push_str(&drm::dash_content_protection(
                    sys,
                    &kids[0],
                    b.as_deref(),
                    &s.opts,
                ));
                m.push('\n');
            }
            m + "</MPD>\n"
        };
        let p = Path::new("manifest.mpd");
        let got = Signalling::mpd(Some(&s), p, &mpd(&OLD), &moved()).unwrap();
        assert_eq!(got, mpd(&NEW));
        // Without the record, or with the license URL changed, it is refused.
        let e = Signalling::mpd(None, p, &mpd(&OLD), &moved()).unwrap_err();
        assert!(e.to_string().contains("does not record"), "{e}");
        let edited = mpd(&OLD).replace("wv.example.com", "other.example.com");
        let e = Signalling::mpd(Some(&s), p, &edited, &moved()).unwrap_err();
        assert!(e.to_string().contains("widevine ContentProtection"), "{e}");
    }

    #[test]
    fn init_boxes_are_rebuilt_only_when_they_are_ours() {
        let s = sig(&[
            DrmSystem::Widevine,
            DrmSystem::PlayReady,
            DrmSystem::ClearKey,
        ]);
        let old = RawBox::parse_all(&s.boxes(&OLD)).unwrap();
        let new = s.pssh(Path::new("init.mp4"), &old, &OLD, &NEW).unwrap();
        let mut bytes = Vec::new();
        new.iter().for_each(|b| b.write(&mut bytes));
        assert_eq!(bytes, s.boxes(&NEW));
        for b in &new {
            let mut one = Vec::new();
            b.write(&mut one);
            assert_eq!(drm::pssh_kids(&one).unwrap().1, NEW);
        }
        // A provider's box (another order of the KIDs stands in for one).
        let theirs = RawBox::parse_all(&s.boxes(&[OLD[1], OLD[0]])).unwrap();
        let e = s
            .pssh(Path::new("init.mp4"), &theirs, &OLD, &NEW)
            .unwrap_err();
        assert!(e.to_string().contains("pssh boxes are not the ones"), "{e}");
    }

    #[test]
    fn hls_lines_of_widevine_and_playready_name_the_new_kid() {
        let s = sig(&[DrmSystem::Widevine, DrmSystem::PlayReady]);
        let p = Path::new("index.m3u8");
        for sys in [DrmSystem::Widevine, DrmSystem::PlayReady] {
            let line = |k: &[u8; 16]| {
                Key::parse_attrs(
                    &drm::hls_key_attrs(sys, "SAMPLE-AES-CTR", k, "", &s.opts).unwrap(),
                )
                .unwrap()
            };
            let got = Signalling::hls_key(Some(&s), p, &line(&OLD[0]), &OLD[0], &NEW[0]).unwrap();
            assert_eq!(got, Some(line(&NEW[0])));
            assert!(Signalling::hls_key(None, p, &line(&OLD[0]), &OLD[0], &NEW[0]).is_err());
        }
    }
}
