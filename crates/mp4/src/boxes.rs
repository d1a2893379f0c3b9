//! The typed boxes (ISO/IEC 14496-12 unless noted; encryption boxes from
//! ISO/IEC 23001-7). Each writes the version shieldpack needs and parses
//! the versions other writers use.

use crate::{all, children, err, one, opt, Mp4Box, Put, RawBox, Reader, Result};

/// `ftyp` and `styp` share a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brands {
    pub major: [u8; 4],
    pub minor: u32,
    pub compatible: Vec<[u8; 4]>,
}

impl Brands {
    fn write_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.major);
        out.u32(self.minor);
        for c in &self.compatible {
            out.extend_from_slice(c);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let major = r.array()?;
        let minor = r.u32()?;
        let mut compatible = Vec::new();
        while r.remaining() >= 4 {
            compatible.push(r.array()?);
        }
        Ok(Brands {
            major,
            minor,
            compatible,
        })
    }
}

/// File type (init segments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ftyp(pub Brands);
/// Segment type (media segments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Styp(pub Brands);

impl Mp4Box for Ftyp {
    const TYPE: [u8; 4] = *b"ftyp";
    fn write_body(&self, out: &mut Vec<u8>) {
        self.0.write_body(out)
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        Brands::parse_body(r).map(Ftyp)
    }
}

impl Mp4Box for Styp {
    const TYPE: [u8; 4] = *b"styp";
    fn write_body(&self, out: &mut Vec<u8>) {
        self.0.write_body(out)
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        Brands::parse_body(r).map(Styp)
    }
}

/// The unity matrix of `mvhd` and `tkhd`.
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Movie header. Durations are 0: a fragmented file's length is in its fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mvhd {
    pub timescale: u32,
    pub duration: u64,
    pub next_track_id: u32,
}

impl Mp4Box for Mvhd {
    const TYPE: [u8; 4] = *b"mvhd";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(1, 0);
        out.u64(0); // creation time
        out.u64(0); // modification time
        out.u32(self.timescale);
        out.u64(self.duration);
        out.u32(0x0001_0000); // rate 1.0
        out.u16(0x0100); // volume 1.0
        out.extend_from_slice(&[0; 10]);
        for m in MATRIX {
            out.u32(m);
        }
        out.extend_from_slice(&[0; 24]); // pre_defined
        out.u32(self.next_track_id);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (v, _) = r.full()?;
        let (timescale, duration) = if v == 1 {
            r.skip(16)?;
            (r.u32()?, r.u64()?)
        } else {
            r.skip(8)?;
            (r.u32()?, u64::from(r.u32()?))
        };
        r.skip(4 + 2 + 10 + 36 + 24)?;
        Ok(Mvhd {
            timescale,
            duration,
            next_track_id: r.u32()?,
        })
    }
}

/// Track header. `width` and `height` are whole pixels (written as 16.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tkhd {
    pub track_id: u32,
    pub duration: u64,
    pub audio: bool,
    pub width: u32,
    pub height: u32,
}

impl Mp4Box for Tkhd {
    const TYPE: [u8; 4] = *b"tkhd";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(1, 0x3); // enabled, in movie
        out.u64(0);
        out.u64(0);
        out.u32(self.track_id);
        out.u32(0);
        out.u64(self.duration);
        out.extend_from_slice(&[0; 8]);
        out.u16(0); // layer
        out.u16(u16::from(self.audio)); // alternate group
        out.u16(if self.audio { 0x0100 } else { 0 }); // volume
        out.u16(0);
        for m in MATRIX {
            out.u32(m);
        }
        out.u32(self.width << 16);
        out.u32(self.height << 16);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (v, _) = r.full()?;
        let (track_id, duration) = if v == 1 {
            r.skip(16)?;
            let id = r.u32()?;
            r.skip(4)?;
            (id, r.u64()?)
        } else {
            r.skip(8)?;
            let id = r.u32()?;
            r.skip(4)?;
            (id, u64::from(r.u32()?))
        };
        r.skip(8 + 2)?;
        let group = r.u16()?;
        let volume = r.u16()?;
        r.skip(2 + 36)?;
        let width = r.u32()? >> 16;
        let height = r.u32()? >> 16;
        Ok(Tkhd {
            track_id,
            duration,
            audio: volume != 0 || group != 0,
            width,
            height,
        })
    }
}

/// Media header: the track's timescale and ISO 639-2 language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mdhd {
    pub timescale: u32,
    pub duration: u64,
    pub language: [u8; 3],
}

impl Mp4Box for Mdhd {
    const TYPE: [u8; 4] = *b"mdhd";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(1, 0);
        out.u64(0);
        out.u64(0);
        out.u32(self.timescale);
        out.u64(self.duration);
        let l = self
            .language
            .map(|c| u16::from(c.wrapping_sub(0x60)) & 0x1f);
        out.u16(l[0] << 10 | l[1] << 5 | l[2]);
        out.u16(0);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (v, _) = r.full()?;
        let (timescale, duration) = if v == 1 {
            r.skip(16)?;
            (r.u32()?, r.u64()?)
        } else {
            r.skip(8)?;
            (r.u32()?, u64::from(r.u32()?))
        };
        let l = r.u16()?;
        let language = [
            ((l >> 10) & 0x1f) as u8 + 0x60,
            ((l >> 5) & 0x1f) as u8 + 0x60,
            (l & 0x1f) as u8 + 0x60,
        ];
        Ok(Mdhd {
            timescale,
            duration,
            language,
        })
    }
}

/// Handler: `vide` or `soun`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hdlr {
    pub handler: [u8; 4],
    pub name: String,
}

impl Mp4Box for Hdlr {
    const TYPE: [u8; 4] = *b"hdlr";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(0, 0);
        out.u32(0);
        out.extend_from_slice(&self.handler);
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(self.name.as_bytes());
        out.push(0);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        r.full()?;
        r.skip(4)?;
        let handler = r.array()?;
        r.skip(12)?;
        let name = r.rest();
        let name = name.split(|b| *b == 0).next().unwrap_or_default();
        Ok(Hdlr {
            handler,
            name: String::from_utf8_lossy(name).into_owned(),
        })
    }
}

/// A box whose body shieldpack writes as a constant and checks loosely:
/// `vmhd`, `smhd`, `dinf` and the empty sample tables of a fragmented file.
macro_rules! constant_box {
    ($name:ident, $t:literal, $body:expr) => {
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name;
        impl Mp4Box for $name {
            const TYPE: [u8; 4] = *$t;
            fn write_body(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&$body);
            }
            fn parse_body(r: &mut Reader) -> Result<Self> {
                r.rest();
                Ok($name)
            }
        }
    };
}

constant_box!(Vmhd, b"vmhd", [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
constant_box!(Smhd, b"smhd", [0u8; 8]);
// dref with one self-contained `url ` entry.
constant_box!(
    Dinf,
    b"dinf",
    [
        0, 0, 0, 28, b'd', b'r', b'e', b'f', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 12, b'u', b'r', b'l',
        b' ', 0, 0, 0, 1
    ]
);
constant_box!(Stts, b"stts", [0u8; 8]);
constant_box!(Stsc, b"stsc", [0u8; 8]);
constant_box!(Stsz, b"stsz", [0u8; 12]);
constant_box!(Stco, b"stco", [0u8; 8]);

/// Original format (`sinf`): the sample entry's type before encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frma(pub [u8; 4]);

impl Mp4Box for Frma {
    const TYPE: [u8; 4] = *b"frma";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        Ok(Frma(r.array()?))
    }
}

/// Scheme type: `cenc` or `cbcs`, version 0x00010000.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schm {
    pub scheme: [u8; 4],
    pub version: u32,
}

impl Mp4Box for Schm {
    const TYPE: [u8; 4] = *b"schm";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(0, 0);
        out.extend_from_slice(&self.scheme);
        out.u32(self.version);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (_, flags) = r.full()?;
        let scheme = r.array()?;
        let version = r.u32()?;
        if flags & 1 != 0 {
            r.rest(); // scheme_uri
        }
        Ok(Schm { scheme, version })
    }
}

/// Track encryption defaults (23001-7 8.2): pattern, IV size, default KID,
/// constant IV (cbcs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenc {
    pub crypt_byte_block: u8,
    pub skip_byte_block: u8,
    pub is_protected: bool,
    /// 0 when `constant_iv` is used, else 8 or 16.
    pub per_sample_iv_size: u8,
    pub kid: [u8; 16],
    pub constant_iv: Option<[u8; 16]>,
}

impl Mp4Box for Tenc {
    const TYPE: [u8; 4] = *b"tenc";
    fn write_body(&self, out: &mut Vec<u8>) {
        let pattern = self.crypt_byte_block != 0 || self.skip_byte_block != 0;
        out.full(u8::from(pattern), 0);
        out.u8(0);
        out.u8(if pattern {
            self.crypt_byte_block << 4 | (self.skip_byte_block & 0xf)
        } else {
            0
        });
        out.u8(u8::from(self.is_protected));
        out.u8(self.per_sample_iv_size);
        out.extend_from_slice(&self.kid);
        if self.is_protected && self.per_sample_iv_size == 0 {
            if let Some(iv) = self.constant_iv {
                out.u8(16);
                out.extend_from_slice(&iv);
            }
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (v, _) = r.full()?;
        r.skip(1)?;
        let p = r.u8()?;
        let (crypt_byte_block, skip_byte_block) = if v >= 1 { (p >> 4, p & 0xf) } else { (0, 0) };
        let is_protected = r.u8()? != 0;
        let per_sample_iv_size = r.u8()?;
        let kid = r.array()?;
        let mut constant_iv = None;
        if is_protected && per_sample_iv_size == 0 {
            let n = r.u8()? as usize;
            let iv = r.bytes(n)?;
            let mut a = [0u8; 16];
            // An 8-byte constant IV is the first half, the rest zero (23001-7 9.1).
            if n != 8 && n != 16 {
                return r.fail(format!("constant IV of {n} bytes (8 or 16 allowed)"));
            }
            a[..n].copy_from_slice(iv);
            constant_iv = Some(a);
        }
        if !matches!(per_sample_iv_size, 0 | 8 | 16) {
            return r.fail(format!(
                "per-sample IV size {per_sample_iv_size} (0, 8 or 16 allowed)"
            ));
        }
        Ok(Tenc {
            crypt_byte_block,
            skip_byte_block,
            is_protected,
            per_sample_iv_size,
            kid,
            constant_iv,
        })
    }
}

/// Protection scheme information: `frma`, `schm`, `schi` holding `tenc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sinf {
    pub frma: Frma,
    pub schm: Schm,
    pub tenc: Tenc,
}

impl Mp4Box for Sinf {
    const TYPE: [u8; 4] = *b"sinf";
    fn write_body(&self, out: &mut Vec<u8>) {
        self.frma.write(out);
        self.schm.write(out);
        let mut schi = Vec::new();
        self.tenc.write(&mut schi);
        RawBox {
            box_type: *b"schi",
            body: schi,
        }
        .write(out);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let kids = children(r)?;
        let schi = kids
            .iter()
            .find(|k| &k.box_type == b"schi")
            .map(|k| RawBox::parse_all(&k.body))
            .transpose()?
            .unwrap_or_default();
        Ok(Sinf {
            frma: one(Self::TYPE, &kids)?,
            schm: one(Self::TYPE, &kids)?,
            tenc: one(*b"schi", &schi)?,
        })
    }
}

/// `esds` for AAC: an ES_Descriptor holding the AudioSpecificConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Esds {
    pub object_type: u8,
    pub max_bitrate: u32,
    pub avg_bitrate: u32,
    pub decoder_specific: Vec<u8>,
}

/// An MPEG-4 descriptor: tag, then its size in the 4-byte expandable form.
fn descriptor(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    let n = body.len() as u32;
    out.extend_from_slice(&[
        0x80 | (n >> 21) as u8 & 0x7f,
        0x80 | (n >> 14) as u8 & 0x7f,
        0x80 | (n >> 7) as u8 & 0x7f,
        n as u8 & 0x7f,
    ]);
    out.extend_from_slice(body);
}

fn read_descriptor<'a>(r: &mut Reader<'a>) -> Result<(u8, &'a [u8])> {
    let tag = r.u8()?;
    let mut n = 0usize;
    for _ in 0..4 {
        let b = r.u8()?;
        n = n << 7 | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    Ok((tag, r.bytes(n)?))
}

impl Mp4Box for Esds {
    const TYPE: [u8; 4] = *b"esds";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(0, 0);
        let mut dcd = vec![self.object_type, 0x15, 0, 0, 0];
        dcd.extend_from_slice(&self.max_bitrate.to_be_bytes());
        dcd.extend_from_slice(&self.avg_bitrate.to_be_bytes());
        descriptor(&mut dcd, 0x05, &self.decoder_specific);
        let mut es = vec![0, 1, 0]; // ES_ID 1, no flags
        descriptor(&mut es, 0x04, &dcd);
        descriptor(&mut es, 0x06, &[0x02]); // SLConfig: predefined MP4
        descriptor(out, 0x03, &es);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        r.full()?;
        let (tag, es) = read_descriptor(r)?;
        if tag != 0x03 {
            return r.fail(format!("ES_Descriptor tag {tag:#x}, expected 0x03"));
        }
        let mut er = Reader::new(es, Self::TYPE);
        er.skip(2)?;
        let flags = er.u8()?;
        if flags & 0x80 != 0 {
            er.skip(2)?;
        }
        if flags & 0x40 != 0 {
            let n = er.u8()? as usize;
            er.skip(n)?;
        }
        if flags & 0x20 != 0 {
            er.skip(2)?;
        }
        let (tag, dcd) = read_descriptor(&mut er)?;
        if tag != 0x04 {
            return r.fail(format!(
                "DecoderConfigDescriptor tag {tag:#x}, expected 0x04"
            ));
        }
        let mut dr = Reader::new(dcd, Self::TYPE);
        let object_type = dr.u8()?;
        dr.skip(4)?;
        let max_bitrate = dr.u32()?;
        let avg_bitrate = dr.u32()?;
        let decoder_specific = if dr.remaining() > 0 {
            read_descriptor(&mut dr)?.1.to_vec()
        } else {
            Vec::new()
        };
        Ok(Esds {
            object_type,
            max_bitrate,
            avg_bitrate,
            decoder_specific,
        })
    }
}

/// A sample entry of `stsd`: visual (`avc1`, `hvc1`, `encv`) or audio
/// (`mp4a`, `enca`), with its codec configuration boxes kept as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleEntry {
    Visual {
        format: [u8; 4],
        width: u16,
        height: u16,
        /// `avcC`, `hvcC`, `pasp`, `btrt`...
        config: Vec<RawBox>,
        sinf: Option<Sinf>,
    },
    Audio {
        format: [u8; 4],
        channels: u16,
        sample_size: u16,
        sample_rate: u32,
        esds: Option<Esds>,
        config: Vec<RawBox>,
        sinf: Option<Sinf>,
    },
}

impl SampleEntry {
    pub fn format(&self) -> [u8; 4] {
        match self {
            SampleEntry::Visual { format, .. } | SampleEntry::Audio { format, .. } => *format,
        }
    }

    pub fn sinf(&self) -> Option<&Sinf> {
        match self {
            SampleEntry::Visual { sinf, .. } | SampleEntry::Audio { sinf, .. } => sinf.as_ref(),
        }
    }

    /// The codec configuration box of type `t` (`avcC`, `hvcC`).
    pub fn config(&self, t: &[u8; 4]) -> Option<&RawBox> {
        match self {
            SampleEntry::Visual { config, .. } | SampleEntry::Audio { config, .. } => {
                config.iter().find(|b| &b.box_type == t)
            }
        }
    }

    /// Marks the entry as encrypted (`encv`/`enca` with a `sinf`), 23001-7 4.
    pub fn protect(&mut self, scheme: [u8; 4], tenc: Tenc) {
        let (format, sinf, enc) = match self {
            SampleEntry::Visual { format, sinf, .. } => (format, sinf, *b"encv"),
            SampleEntry::Audio { format, sinf, .. } => (format, sinf, *b"enca"),
        };
        *sinf = Some(Sinf {
            frma: Frma(*format),
            schm: Schm {
                scheme,
                version: 0x0001_0000,
            },
            tenc,
        });
        *format = enc;
    }

    fn write(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.u32(0);
        out.extend_from_slice(&self.format());
        out.extend_from_slice(&[0; 6]);
        out.u16(1); // data_reference_index
        match self {
            SampleEntry::Visual {
                width,
                height,
                config,
                sinf,
                ..
            } => {
                out.extend_from_slice(&[0; 16]);
                out.u16(*width);
                out.u16(*height);
                out.u32(0x0048_0000); // 72 dpi
                out.u32(0x0048_0000);
                out.u32(0);
                out.u16(1); // frame count
                out.extend_from_slice(&[0; 32]); // compressor name
                out.u16(0x0018); // depth
                out.u16(0xffff); // pre_defined -1
                for c in config {
                    c.write(out);
                }
                if let Some(s) = sinf {
                    s.write(out);
                }
            }
            SampleEntry::Audio {
                channels,
                sample_size,
                sample_rate,
                esds,
                config,
                sinf,
                ..
            } => {
                out.extend_from_slice(&[0; 8]);
                out.u16(*channels);
                out.u16(*sample_size);
                out.u32(0);
                // 16.16; rates above 65535 Hz do not fit and are written as 0.
                out.u32(if *sample_rate <= 0xffff {
                    *sample_rate << 16
                } else {
                    0
                });
                if let Some(e) = esds {
                    e.write(out);
                }
                for c in config {
                    c.write(out);
                }
                if let Some(s) = sinf {
                    s.write(out);
                }
            }
        }
        let size = (out.len() - at) as u32;
        out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }

    fn parse(raw: &RawBox, handler: [u8; 4]) -> Result<Self> {
        let mut r = Reader::new(&raw.body, raw.box_type);
        r.skip(8)?;
        if handler == *b"vide" {
            r.skip(16)?;
            let width = r.u16()?;
            let height = r.u16()?;
            r.skip(4 + 4 + 4 + 2 + 32 + 2 + 2)?;
            let mut kids = children(&mut r)?;
            let sinf = opt::<Sinf>(&kids)?;
            kids.retain(|k| &k.box_type != b"sinf");
            Ok(SampleEntry::Visual {
                format: raw.box_type,
                width,
                height,
                config: kids,
                sinf,
            })
        } else if handler == *b"soun" {
            let version = r.u16()?;
            r.skip(6)?;
            let channels = r.u16()?;
            let sample_size = r.u16()?;
            r.skip(4)?;
            let sample_rate = r.u32()? >> 16;
            match version {
                1 => r.skip(16)?,
                2 => r.skip(36)?,
                _ => {}
            }
            let mut kids = children(&mut r)?;
            let sinf = opt::<Sinf>(&kids)?;
            let esds = opt::<Esds>(&kids)?;
            kids.retain(|k| &k.box_type != b"sinf" && &k.box_type != b"esds");
            Ok(SampleEntry::Audio {
                format: raw.box_type,
                channels,
                sample_size,
                sample_rate,
                esds,
                config: kids,
                sinf,
            })
        } else {
            err(
                raw.box_type,
                format!(
                    "a sample entry of a '{}' track, which shieldpack does not read",
                    crate::fourcc_str(handler)
                ),
            )
        }
    }
}

/// Sample descriptions. Parsing needs the track's handler (visual or audio
/// entries), so `Stsd` parses with [`Stsd::parse_for`]; `parse_body` reads
/// the entries as raw boxes, typed as visual when they say `avc1`, `hvc1`,
/// `hev1` or `encv`, audio otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stsd {
    pub entries: Vec<SampleEntry>,
}

impl Stsd {
    pub fn parse_for(raw: &RawBox, handler: [u8; 4]) -> Result<Self> {
        let mut r = Reader::new(&raw.body, *b"stsd");
        r.full()?;
        let n = r.u32()?;
        let kids = children(&mut r)?;
        if kids.len() != n as usize {
            return r.fail(format!("says {n} entries, holds {}", kids.len()));
        }
        let entries = kids
            .iter()
            .map(|k| SampleEntry::parse(k, handler))
            .collect::<Result<_>>()?;
        Ok(Stsd { entries })
    }
}

impl Mp4Box for Stsd {
    const TYPE: [u8; 4] = *b"stsd";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(0, 0);
        out.u32(self.entries.len() as u32);
        for e in &self.entries {
            e.write(out);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let body = r.rest().to_vec();
        let raw = RawBox {
            box_type: *b"stsd",
            body,
        };
        let first = {
            let mut rr = Reader::new(&raw.body, *b"stsd");
            rr.skip(8)?;
            children(&mut rr)?
                .first()
                .map(|k| k.box_type)
                .unwrap_or(*b"avc1")
        };
        let visual = matches!(&first, b"avc1" | b"avc3" | b"hvc1" | b"hev1" | b"encv");
        Stsd::parse_for(&raw, if visual { *b"vide" } else { *b"soun" })
    }
}

/// Sample table: the description and the empty tables of a fragmented track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stbl {
    pub stsd: Stsd,
}

impl Stbl {
    fn parse_for(r: &mut Reader, handler: [u8; 4]) -> Result<Self> {
        let kids = children(r)?;
        let raw = kids
            .iter()
            .find(|k| &k.box_type == b"stsd")
            .ok_or_else(|| crate::Error {
                box_type: "stbl".into(),
                reason: "has no 'stsd' box".into(),
            })?;
        Ok(Stbl {
            stsd: Stsd::parse_for(raw, handler)?,
        })
    }
}

impl Mp4Box for Stbl {
    const TYPE: [u8; 4] = *b"stbl";
    fn write_body(&self, out: &mut Vec<u8>) {
        self.stsd.write(out);
        Stts.write(out);
        Stsc.write(out);
        Stsz.write(out);
        Stco.write(out);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let kids = children(r)?;
        Ok(Stbl {
            stsd: one(Self::TYPE, &kids)?,
        })
    }
}

/// Media information: `vmhd` or `smhd`, `dinf`, `stbl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minf {
    pub audio: bool,
    pub stbl: Stbl,
}

impl Minf {
    fn parse_for(r: &mut Reader, handler: [u8; 4]) -> Result<Self> {
        let kids = children(r)?;
        let stbl = kids
            .iter()
            .find(|k| &k.box_type == b"stbl")
            .ok_or_else(|| crate::Error {
                box_type: "minf".into(),
                reason: "has no 'stbl' box".into(),
            })?;
        Ok(Minf {
            audio: handler == *b"soun",
            stbl: Stbl::parse_for(&mut Reader::new(&stbl.body, *b"stbl"), handler)?,
        })
    }
}

impl Mp4Box for Minf {
    const TYPE: [u8; 4] = *b"minf";
    fn write_body(&self, out: &mut Vec<u8>) {
        if self.audio {
            Smhd.write(out);
        } else {
            Vmhd.write(out);
        }
        Dinf.write(out);
        self.stbl.write(out);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let kids = children(r)?;
        let audio = kids.iter().any(|k| &k.box_type == b"smhd");
        Ok(Minf {
            audio,
            stbl: one(Self::TYPE, &kids)?,
        })
    }
}

/// Media: header, handler, information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mdia {
    pub mdhd: Mdhd,
    pub hdlr: Hdlr,
    pub minf: Minf,
}

impl Mp4Box for Mdia {
    const TYPE: [u8; 4] = *b"mdia";
    fn write_body(&self, out: &mut Vec<u8>) {
        self.mdhd.write(out);
        self.hdlr.write(out);
        self.minf.write(out);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let kids = children(r)?;
        let hdlr: Hdlr = one(Self::TYPE, &kids)?;
        let minf = kids
            .iter()
            .find(|k| &k.box_type == b"minf")
            .ok_or_else(|| crate::Error {
                box_type: "mdia".into(),
                reason: "has no 'minf' box".into(),
            })?;
        let minf = Minf::parse_for(&mut Reader::new(&minf.body, *b"minf"), hdlr.handler)?;
        Ok(Mdia {
            mdhd: one(Self::TYPE, &kids)?,
            hdlr,
            minf,
        })
    }
}

/// A track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trak {
    pub tkhd: Tkhd,
    pub mdia: Mdia,
}

impl Trak {
    /// The track's (only) sample entry.
    pub fn entry(&self) -> Option<&SampleEntry> {
        self.mdia.minf.stbl.stsd.entries.first()
    }
    pub fn entry_mut(&mut self) -> Option<&mut SampleEntry> {
        self.mdia.minf.stbl.stsd.entries.first_mut()
    }
}

impl Mp4Box for Trak {
    const TYPE: [u8; 4] = *b"trak";
    fn write_body(&self, out: &mut Vec<u8>) {
        self.tkhd.write(out);
        self.mdia.write(out);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let kids = children(r)?;
        Ok(Trak {
            tkhd: one(Self::TYPE, &kids)?,
            mdia: one(Self::TYPE, &kids)?,
        })
    }
}

/// Track extends: a fragmented track's sample defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trex {
    pub track_id: u32,
    pub default_sample_duration: u32,
    pub default_sample_size: u32,
    pub default_sample_flags: u32,
}

impl Mp4Box for Trex {
    const TYPE: [u8; 4] = *b"trex";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(0, 0);
        out.u32(self.track_id);
        out.u32(1); // default_sample_description_index
        out.u32(self.default_sample_duration);
        out.u32(self.default_sample_size);
        out.u32(self.default_sample_flags);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        r.full()?;
        let track_id = r.u32()?;
        r.skip(4)?;
        Ok(Trex {
            track_id,
            default_sample_duration: r.u32()?,
            default_sample_size: r.u32()?,
            default_sample_flags: r.u32()?,
        })
    }
}

/// Movie extends: one `trex` per track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mvex {
    pub trex: Vec<Trex>,
}

impl Mp4Box for Mvex {
    const TYPE: [u8; 4] = *b"mvex";
    fn write_body(&self, out: &mut Vec<u8>) {
        for t in &self.trex {
            t.write(out);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        Ok(Mvex {
            trex: all(&children(r)?)?,
        })
    }
}

/// Protection system specific header (23001-7 8.1): version 1 when it
/// lists KIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pssh {
    pub system_id: [u8; 16],
    pub kids: Vec<[u8; 16]>,
    pub data: Vec<u8>,
}

impl Mp4Box for Pssh {
    const TYPE: [u8; 4] = *b"pssh";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(u8::from(!self.kids.is_empty()), 0);
        out.extend_from_slice(&self.system_id);
        if !self.kids.is_empty() {
            out.u32(self.kids.len() as u32);
            for k in &self.kids {
                out.extend_from_slice(k);
            }
        }
        out.u32(self.data.len() as u32);
        out.extend_from_slice(&self.data);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (v, _) = r.full()?;
        let system_id = r.array()?;
        let mut kids = Vec::new();
        if v > 0 {
            let n = r.u32()?;
            if n as usize > r.remaining() / 16 {
                return r.fail(format!("says {n} KIDs, has room for fewer"));
            }
            for _ in 0..n {
                kids.push(r.array()?);
            }
        }
        let n = r.u32()? as usize;
        Ok(Pssh {
            system_id,
            kids,
            data: r.bytes(n)?.to_vec(),
        })
    }
}

/// Movie: header, tracks, extends, and PSSH boxes (opaque to this crate:
/// the DRM signalling writes them whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moov {
    pub mvhd: Mvhd,
    pub traks: Vec<Trak>,
    pub mvex: Mvex,
    pub pssh: Vec<RawBox>,
}

impl Mp4Box for Moov {
    const TYPE: [u8; 4] = *b"moov";
    fn write_body(&self, out: &mut Vec<u8>) {
        self.mvhd.write(out);
        for t in &self.traks {
            t.write(out);
        }
        self.mvex.write(out);
        for p in &self.pssh {
            p.write(out);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let kids = children(r)?;
        // Every pssh must parse, though they are kept as bytes.
        all::<Pssh>(&kids)?;
        Ok(Moov {
            mvhd: one(Self::TYPE, &kids)?,
            traks: all(&kids)?,
            mvex: one(Self::TYPE, &kids)?,
            pssh: kids
                .iter()
                .filter(|k| &k.box_type == b"pssh")
                .cloned()
                .collect(),
        })
    }
}

/// Movie fragment header: the fragment's sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mfhd {
    pub sequence: u32,
}

impl Mp4Box for Mfhd {
    const TYPE: [u8; 4] = *b"mfhd";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(0, 0);
        out.u32(self.sequence);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        r.full()?;
        Ok(Mfhd { sequence: r.u32()? })
    }
}

/// Track fragment header. shieldpack writes `default-base-is-moof` (CMAF)
/// and no defaults (every sample's values are in `trun`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tfhd {
    pub track_id: u32,
    pub flags: u32,
    pub base_data_offset: Option<u64>,
    pub sample_description_index: Option<u32>,
    pub default_sample_duration: Option<u32>,
    pub default_sample_size: Option<u32>,
    pub default_sample_flags: Option<u32>,
}

impl Tfhd {
    pub const DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;

    pub fn new(track_id: u32) -> Self {
        Tfhd {
            track_id,
            flags: Self::DEFAULT_BASE_IS_MOOF,
            base_data_offset: None,
            sample_description_index: None,
            default_sample_duration: None,
            default_sample_size: None,
            default_sample_flags: None,
        }
    }
}

impl Mp4Box for Tfhd {
    const TYPE: [u8; 4] = *b"tfhd";
    fn write_body(&self, out: &mut Vec<u8>) {
        let mut flags = self.flags & Self::DEFAULT_BASE_IS_MOOF;
        let fields = [
            (0x01, self.base_data_offset.is_some()),
            (0x02, self.sample_description_index.is_some()),
            (0x08, self.default_sample_duration.is_some()),
            (0x10, self.default_sample_size.is_some()),
            (0x20, self.default_sample_flags.is_some()),
        ];
        for (bit, set) in fields {
            if set {
                flags |= bit;
            }
        }
        out.full(0, flags);
        out.u32(self.track_id);
        if let Some(v) = self.base_data_offset {
            out.u64(v);
        }
        for v in [
            self.sample_description_index,
            self.default_sample_duration,
            self.default_sample_size,
            self.default_sample_flags,
        ]
        .into_iter()
        .flatten()
        {
            out.u32(v);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (_, flags) = r.full()?;
        let track_id = r.u32()?;
        let base_data_offset = if flags & 0x01 != 0 {
            Some(r.u64()?)
        } else {
            None
        };
        let mut next = |bit: u32| -> Result<Option<u32>> {
            if flags & bit != 0 {
                r.u32().map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(Tfhd {
            track_id,
            flags,
            base_data_offset,
            sample_description_index: next(0x02)?,
            default_sample_duration: next(0x08)?,
            default_sample_size: next(0x10)?,
            default_sample_flags: next(0x20)?,
        })
    }
}

/// Track fragment decode time: the first sample's decode time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tfdt {
    pub base_media_decode_time: u64,
}

impl Mp4Box for Tfdt {
    const TYPE: [u8; 4] = *b"tfdt";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(1, 0);
        out.u64(self.base_media_decode_time);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (v, _) = r.full()?;
        Ok(Tfdt {
            base_media_decode_time: if v == 1 {
                r.u64()?
            } else {
                u64::from(r.u32()?)
            },
        })
    }
}

/// One sample of a `trun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrunSample {
    pub duration: u32,
    pub size: u32,
    pub flags: u32,
    /// Composition time minus decode time (signed: `trun` version 1).
    pub composition_offset: i32,
}

/// Sample flags: a sync sample, or one that depends on others.
pub const SYNC_SAMPLE: u32 = 0x0200_0000;
pub const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

/// Track run: every sample's duration, size, flags and composition offset,
/// and where its data starts, from the start of the `moof`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trun {
    pub data_offset: i32,
    pub samples: Vec<TrunSample>,
}

impl Mp4Box for Trun {
    const TYPE: [u8; 4] = *b"trun";
    fn write_body(&self, out: &mut Vec<u8>) {
        // data offset, duration, size, flags, composition offset.
        out.full(1, 0x001 | 0x100 | 0x200 | 0x400 | 0x800);
        out.u32(self.samples.len() as u32);
        out.u32(self.data_offset as u32);
        for s in &self.samples {
            out.u32(s.duration);
            out.u32(s.size);
            out.u32(s.flags);
            out.u32(s.composition_offset as u32);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (_, flags) = r.full()?;
        let n = r.u32()?;
        let data_offset = if flags & 0x001 != 0 { r.i32()? } else { 0 };
        let first_flags = if flags & 0x004 != 0 {
            Some(r.u32()?)
        } else {
            None
        };
        let per = [0x100, 0x200, 0x400, 0x800]
            .iter()
            .filter(|b| flags & **b != 0)
            .count();
        // Without per-sample fields a count costs no bytes: cap it (a
        // segment of shieldpack's holds far fewer samples).
        if (n as usize).saturating_mul(per * 4) > r.remaining() || (per == 0 && n > 1 << 20) {
            return r.fail(format!("says {n} samples, has room for fewer"));
        }
        let mut samples = Vec::with_capacity(n as usize);
        for i in 0..n {
            let duration = if flags & 0x100 != 0 { r.u32()? } else { 0 };
            let size = if flags & 0x200 != 0 { r.u32()? } else { 0 };
            let mut sflags = if flags & 0x400 != 0 { r.u32()? } else { 0 };
            if i == 0 {
                if let Some(f) = first_flags {
                    sflags = f;
                }
            }
            // Unsigned in version 0, signed in 1: the same bits either way
            // for offsets below 2^31.
            let composition_offset = if flags & 0x800 != 0 {
                r.u32()? as i32
            } else {
                0
            };
            samples.push(TrunSample {
                duration,
                size,
                flags: sflags,
                composition_offset,
            });
        }
        Ok(Trun {
            data_offset,
            samples,
        })
    }
}

/// The encryption of one sample: its IV (empty with a constant IV) and
/// subsample map of (clear bytes, protected bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleAux {
    pub iv: Vec<u8>,
    pub subsamples: Vec<(u16, u32)>,
}

impl SampleAux {
    /// Its size as `saiz` counts it.
    pub fn size(&self) -> usize {
        self.iv.len()
            + if self.subsamples.is_empty() {
                0
            } else {
                2 + 6 * self.subsamples.len()
            }
    }
}

/// Sample encryption (23001-7 7.2): every sample's IV and subsamples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Senc {
    pub samples: Vec<SampleAux>,
}

impl Senc {
    /// Parses the body when the per-sample IV size is known (from `tenc`).
    pub fn parse_with(r: &mut Reader, iv_size: usize) -> Result<Self> {
        let (_, flags) = r.full()?;
        let n = r.u32()?;
        if n as usize > r.remaining().max(1) * 8 {
            return r.fail(format!("says {n} samples, has room for fewer"));
        }
        let mut samples = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let iv = r.bytes(iv_size)?.to_vec();
            let mut subsamples = Vec::new();
            if flags & 0x2 != 0 {
                let k = r.u16()?;
                for _ in 0..k {
                    subsamples.push((r.u16()?, r.u32()?));
                }
            }
            samples.push(SampleAux { iv, subsamples });
        }
        if r.remaining() != 0 {
            return r.fail(format!("{} bytes left after the samples", r.remaining()));
        }
        Ok(Senc { samples })
    }

    fn uses_subsamples(&self) -> bool {
        self.samples.iter().any(|s| !s.subsamples.is_empty())
    }
}

impl Mp4Box for Senc {
    const TYPE: [u8; 4] = *b"senc";
    fn write_body(&self, out: &mut Vec<u8>) {
        let sub = self.uses_subsamples();
        out.full(0, if sub { 0x2 } else { 0 });
        out.u32(self.samples.len() as u32);
        for s in &self.samples {
            out.extend_from_slice(&s.iv);
            if sub {
                out.u16(s.subsamples.len() as u16);
                for (c, p) in &s.subsamples {
                    out.u16(*c);
                    out.u32(*p);
                }
            }
        }
    }
    /// Without `tenc` at hand, the IV size is the one of 16, 8 and 0 that
    /// reads the body exactly.
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let body = r.rest();
        let mut last = None;
        for iv in [16, 8, 0] {
            match Senc::parse_with(&mut Reader::new(body, Self::TYPE), iv) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("tried"))
    }
}

/// Sample auxiliary information sizes (of each sample's `senc` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saiz {
    pub default_size: u8,
    pub sizes: Vec<u8>,
    pub count: u32,
}

impl Saiz {
    pub fn of(senc: &Senc) -> Self {
        let sizes: Vec<u8> = senc.samples.iter().map(|s| s.size() as u8).collect();
        let count = sizes.len() as u32;
        match sizes.first() {
            Some(&d) if sizes.iter().all(|s| *s == d) => Saiz {
                default_size: d,
                sizes: Vec::new(),
                count,
            },
            _ => Saiz {
                default_size: 0,
                sizes,
                count,
            },
        }
    }
}

impl Mp4Box for Saiz {
    const TYPE: [u8; 4] = *b"saiz";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(0, 0);
        out.u8(self.default_size);
        out.u32(self.count);
        if self.default_size == 0 {
            out.extend_from_slice(&self.sizes);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (_, flags) = r.full()?;
        if flags & 1 != 0 {
            r.skip(8)?;
        }
        let default_size = r.u8()?;
        let count = r.u32()?;
        let sizes = if default_size == 0 {
            r.bytes(count as usize)?.to_vec()
        } else {
            Vec::new()
        };
        Ok(Saiz {
            default_size,
            sizes,
            count,
        })
    }
}

/// Sample auxiliary information offsets: where the `senc` entries start,
/// from the start of the `moof` (one offset: they are contiguous).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saio {
    pub offsets: Vec<u64>,
}

impl Mp4Box for Saio {
    const TYPE: [u8; 4] = *b"saio";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(0, 0);
        out.u32(self.offsets.len() as u32);
        for o in &self.offsets {
            out.u32(*o as u32);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (v, flags) = r.full()?;
        if flags & 1 != 0 {
            r.skip(8)?;
        }
        let n = r.u32()?;
        if n as usize > r.remaining() / 4 {
            return r.fail(format!("says {n} offsets, has room for fewer"));
        }
        let mut offsets = Vec::new();
        for _ in 0..n {
            offsets.push(if v == 0 {
                u64::from(r.u32()?)
            } else {
                r.u64()?
            });
        }
        Ok(Saio { offsets })
    }
}

/// A `seig` sample group entry (ISO/IEC 23001-7 6): the encryption of the
/// samples mapped to it, overriding `tenc` (key rotation: another KID,
/// and for cbcs another constant IV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seig {
    pub crypt_byte_block: u8,
    pub skip_byte_block: u8,
    pub is_protected: bool,
    pub per_sample_iv_size: u8,
    pub kid: [u8; 16],
    pub constant_iv: Option<[u8; 16]>,
}

impl Seig {
    fn write(&self, out: &mut Vec<u8>) {
        out.u8(0);
        out.u8(self.crypt_byte_block << 4 | (self.skip_byte_block & 0xf));
        out.u8(u8::from(self.is_protected));
        out.u8(self.per_sample_iv_size);
        out.extend_from_slice(&self.kid);
        if self.is_protected && self.per_sample_iv_size == 0 {
            out.u8(16);
            out.extend_from_slice(&self.constant_iv.unwrap_or_default());
        }
    }
    fn parse(r: &mut Reader) -> Result<Self> {
        r.skip(1)?;
        let p = r.u8()?;
        let is_protected = r.u8()? != 0;
        let per_sample_iv_size = r.u8()?;
        let kid = r.array()?;
        let mut constant_iv = None;
        if is_protected && per_sample_iv_size == 0 {
            let n = r.u8()? as usize;
            if n != 8 && n != 16 {
                return r.fail(format!("seig constant IV of {n} bytes (8 or 16 allowed)"));
            }
            let mut a = [0u8; 16];
            a[..n].copy_from_slice(r.bytes(n)?);
            constant_iv = Some(a);
        }
        Ok(Seig {
            crypt_byte_block: p >> 4,
            skip_byte_block: p & 0xf,
            is_protected,
            per_sample_iv_size,
            kid,
            constant_iv,
        })
    }
}

/// Sample group description of grouping type `seig` (version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sgpd {
    pub entries: Vec<Seig>,
}

impl Mp4Box for Sgpd {
    const TYPE: [u8; 4] = *b"sgpd";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(1, 0);
        out.extend_from_slice(b"seig");
        let bodies: Vec<Vec<u8>> = self
            .entries
            .iter()
            .map(|e| {
                let mut b = Vec::new();
                e.write(&mut b);
                b
            })
            .collect();
        let same = bodies.windows(2).all(|w| w[0].len() == w[1].len());
        out.u32(if same {
            bodies.first().map_or(0, |b| b.len() as u32)
        } else {
            0
        });
        out.u32(bodies.len() as u32);
        for b in bodies {
            if !same {
                out.u32(b.len() as u32);
            }
            out.extend_from_slice(&b);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (v, _) = r.full()?;
        let t: [u8; 4] = r.array()?;
        if &t != b"seig" {
            return r.fail(format!(
                "grouping type '{}', not 'seig'",
                crate::fourcc_str(t)
            ));
        }
        let default_length = if v == 1 { r.u32()? } else { 0 };
        if v >= 2 {
            r.u32()?; // default_sample_description_index
        }
        let n = r.u32()?;
        if n as usize > r.remaining() / 20 {
            return r.fail(format!("says {n} entries, has room for fewer"));
        }
        let mut entries = Vec::new();
        for _ in 0..n {
            let len = if v == 1 && default_length == 0 {
                r.u32()? as usize
            } else if v == 1 {
                default_length as usize
            } else {
                // Version 0 entries have no length: seig's own size.
                r.remaining() / n as usize
            };
            let body = r.bytes(len)?;
            let mut er = Reader::new(body, Self::TYPE);
            entries.push(Seig::parse(&mut er)?);
        }
        Ok(Sgpd { entries })
    }
}

/// Sample to group of grouping type `seig`: runs of (sample count, group
/// description index; 0x10001 and up index this fragment's own `sgpd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sbgp {
    pub entries: Vec<(u32, u32)>,
}

impl Mp4Box for Sbgp {
    const TYPE: [u8; 4] = *b"sbgp";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.full(0, 0);
        out.extend_from_slice(b"seig");
        out.u32(self.entries.len() as u32);
        for (count, index) in &self.entries {
            out.u32(*count);
            out.u32(*index);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let (v, _) = r.full()?;
        let t: [u8; 4] = r.array()?;
        if &t != b"seig" {
            return r.fail(format!(
                "grouping type '{}', not 'seig'",
                crate::fourcc_str(t)
            ));
        }
        if v == 1 {
            r.u32()?; // grouping_type_parameter
        }
        let n = r.u32()?;
        if n as usize > r.remaining() / 8 {
            return r.fail(format!("says {n} entries, has room for fewer"));
        }
        let mut entries = Vec::new();
        for _ in 0..n {
            entries.push((r.u32()?, r.u32()?));
        }
        Ok(Sbgp { entries })
    }
}

/// The first child box of type `B` whose grouping type is `seig`.
fn seig_box<B: Mp4Box>(kids: &[RawBox]) -> Result<Option<B>> {
    kids.iter()
        .find(|k| k.box_type == B::TYPE && k.body.get(4..8) == Some(b"seig"))
        .map(|k| k.typed())
        .transpose()
}

/// Track fragment: header, decode time, run, and with encryption the
/// sample auxiliary information (`saiz`, `saio`) and `senc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traf {
    pub tfhd: Tfhd,
    pub tfdt: Tfdt,
    pub trun: Trun,
    /// Key rotation: the samples' `seig` group and its description.
    pub sbgp: Option<Sbgp>,
    pub sgpd: Option<Sgpd>,
    pub saiz: Option<Saiz>,
    pub saio: Option<Saio>,
    pub senc: Option<Senc>,
}

impl Traf {
    /// The `seig` entry that describes this fragment's samples, if any
    /// (shieldpack maps every sample of a fragment to one entry).
    pub fn seig(&self) -> Option<&Seig> {
        let (_, index) = *self.sbgp.as_ref()?.entries.first()?;
        let i = index.checked_sub(0x10001)? as usize;
        self.sgpd.as_ref()?.entries.get(i)
    }
}

impl Mp4Box for Traf {
    const TYPE: [u8; 4] = *b"traf";
    fn write_body(&self, out: &mut Vec<u8>) {
        self.tfhd.write(out);
        self.tfdt.write(out);
        self.trun.write(out);
        if let Some(b) = &self.sbgp {
            b.write(out);
        }
        if let Some(b) = &self.sgpd {
            b.write(out);
        }
        if let Some(b) = &self.saiz {
            b.write(out);
        }
        if let Some(b) = &self.saio {
            b.write(out);
        }
        if let Some(b) = &self.senc {
            b.write(out);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let kids = children(r)?;
        Ok(Traf {
            tfhd: one(Self::TYPE, &kids)?,
            tfdt: one(Self::TYPE, &kids)?,
            trun: one(Self::TYPE, &kids)?,
            sbgp: seig_box(&kids)?,
            sgpd: seig_box(&kids)?,
            saiz: opt(&kids)?,
            saio: opt(&kids)?,
            senc: opt(&kids)?,
        })
    }
}

/// Movie fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moof {
    pub mfhd: Mfhd,
    pub trafs: Vec<Traf>,
}

impl Mp4Box for Moof {
    const TYPE: [u8; 4] = *b"moof";
    fn write_body(&self, out: &mut Vec<u8>) {
        self.mfhd.write(out);
        for t in &self.trafs {
            t.write(out);
        }
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        let kids = children(r)?;
        Ok(Moof {
            mfhd: one(Self::TYPE, &kids)?,
            trafs: all(&kids)?,
        })
    }
}

impl Moof {
    /// Each traf's samples as ranges of the payload (`len` bytes) of the
    /// `mdat` that directly follows this moof, as this crate writes them
    /// (`MediaSegment::sample_ranges`).
    pub fn sample_ranges(&self, len: usize) -> Result<Vec<Vec<std::ops::Range<usize>>>> {
        let header = (self.to_bytes().len() + 8) as i64;
        self.trafs
            .iter()
            .map(|t| {
                let mut at = i64::from(t.trun.data_offset) - header;
                t.trun
                    .samples
                    .iter()
                    .map(|s| {
                        let end = at + i64::from(s.size);
                        if at < 0 || end > len as i64 {
                            return err(
                                *b"trun",
                                format!(
                                    "track {}: a sample at {at}..{end} lies outside the {len}-byte mdat",
                                    t.tfhd.track_id
                                ),
                            );
                        }
                        let r = at as usize..end as usize;
                        at = end;
                        Ok(r)
                    })
                    .collect()
            })
            .collect()
    }

    /// Sets every traf's `trun` data offset and `saio` offset for this
    /// moof followed directly by an `mdat` whose payload holds the tracks'
    /// samples one track after the other, in traf order. Offsets are from
    /// the start of the moof (`default-base-is-moof`); two passes, since
    /// the offsets' values do not change the moof's size.
    pub fn fix_offsets(&mut self) {
        let size = self.to_bytes().len();
        let mut data = size + 8; // the mdat header
                                 // The senc entries' positions: found by writing the moof once.
        let bytes = self.to_bytes();
        let senc_at = senc_offsets_for(&bytes);
        for (i, t) in self.trafs.iter_mut().enumerate() {
            t.trun.data_offset = data as i32;
            data += t
                .trun
                .samples
                .iter()
                .map(|s| s.size as usize)
                .sum::<usize>();
            if let (Some(saio), Some(at)) = (t.saio.as_mut(), senc_at.get(i).copied().flatten()) {
                saio.offsets = vec![at as u64];
            }
        }
    }
}

/// For each traf of a written moof: where its `senc`'s first sample entry
/// starts, from the start of the moof.
pub fn senc_offsets_for(moof: &[u8]) -> Vec<Option<usize>> {
    let Ok(top) = RawBox::spans(moof) else {
        return Vec::new();
    };
    let Some((_, body, _)) = top.first().cloned() else {
        return Vec::new();
    };
    let Ok(kids) = RawBox::spans(&moof[body.clone()]) else {
        return Vec::new();
    };
    kids.iter()
        .filter(|(t, _, _)| t == b"traf")
        .map(|(_, tb, _)| {
            let base = body.start + tb.start;
            RawBox::spans(&moof[base..base + tb.len()])
                .ok()?
                .into_iter()
                .find(|(t, _, _)| t == b"senc")
                // version/flags and sample count come first.
                .map(|(_, sb, _)| base + sb.start + 8)
        })
        .collect()
}

/// Media data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mdat {
    pub data: Vec<u8>,
}

impl Mp4Box for Mdat {
    const TYPE: [u8; 4] = *b"mdat";
    fn write_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.data);
    }
    fn parse_body(r: &mut Reader) -> Result<Self> {
        Ok(Mdat {
            data: r.rest().to_vec(),
        })
    }
}

/// An init segment: `ftyp` + `moov`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    pub ftyp: Ftyp,
    pub moov: Moov,
}

impl InitSegment {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.ftyp.to_bytes();
        self.moov.write(&mut v);
        v
    }
    pub fn parse(data: &[u8]) -> Result<Self> {
        let top = RawBox::parse_all(data)?;
        Ok(InitSegment {
            ftyp: one(*b"init", &top)?,
            moov: one(*b"init", &top)?,
        })
    }
}

/// A media segment parsed where it lies (`MediaSegment::parse_fragment`):
/// its boxes, and where its `mdat` is in the bytes parsed, whole (`mdat`)
/// and its payload (`payload`), so its samples can be encrypted in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub styp: Option<Styp>,
    pub moof: Moof,
    pub mdat: std::ops::Range<usize>,
    pub payload: std::ops::Range<usize>,
}

/// A media segment: `styp`, then one `moof` + `mdat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSegment {
    pub styp: Option<Styp>,
    pub moof: Moof,
    pub mdat: Mdat,
}

impl MediaSegment {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.mdat.data.len() + 4096);
        if let Some(s) = &self.styp {
            s.write(&mut v);
        }
        self.moof.write(&mut v);
        self.mdat.write(&mut v);
        v
    }

    /// Parses a segment and checks that every run's samples lie inside the
    /// mdat that follows the moof.
    pub fn parse(data: &[u8]) -> Result<Self> {
        let f = Self::parse_fragment(data)?;
        Ok(MediaSegment {
            styp: f.styp,
            moof: f.moof,
            mdat: Mdat {
                data: data[f.payload].to_vec(),
            },
        })
    }

    /// `parse`, leaving the samples where they are in `data`: the boxes,
    /// and where the `mdat` lies in `data`.
    pub fn parse_fragment(data: &[u8]) -> Result<Fragment> {
        let spans = RawBox::spans(data)?;
        let mut styp = None;
        let mut moof = None;
        let mut mdat = None;
        for (t, body, whole) in spans {
            match &t {
                b"styp" => styp = Some(RawBox::parse_all(&data[whole])?[0].typed::<Styp>()?),
                b"moof" if moof.is_none() => {
                    moof = Some((
                        Moof::parse_body(&mut Reader::new(&data[body], *b"moof"))?,
                        whole,
                    ))
                }
                b"mdat" if mdat.is_none() => mdat = Some((body, whole)),
                b"moof" | b"mdat" => {
                    return err(
                        t,
                        "a second one: shieldpack writes one moof and mdat per segment",
                    )
                }
                _ => {}
            }
        }
        let Some((moof, moof_at)) = moof else {
            return err(*b"moof", "missing from the segment");
        };
        let Some((mdat_body, mdat_whole)) = mdat else {
            return err(*b"mdat", "missing from the segment");
        };
        if mdat_whole.start != moof_at.end {
            return err(*b"mdat", "does not follow the moof directly");
        }
        let payload = mdat_body.start - moof_at.start;
        for t in &moof.trafs {
            let start = t.trun.data_offset as i64 - payload as i64;
            let len: u64 = t.trun.samples.iter().map(|s| u64::from(s.size)).sum();
            if start < 0 || start as u64 + len > mdat_body.len() as u64 {
                return err(
                    *b"trun",
                    format!(
                        "track {}'s samples ({len} bytes at data offset {}) lie outside the mdat",
                        t.tfhd.track_id, t.trun.data_offset
                    ),
                );
            }
        }
        Ok(Fragment {
            styp,
            moof,
            mdat: mdat_whole,
            payload: mdat_body,
        })
    }

    /// Each traf's samples as ranges of `mdat.data`, for the moof as this
    /// crate writes it (its `trun` data offsets count from the moof's start
    /// to the mdat payload that follows it). A range outside the mdat is an
    /// error: a moof that does not describe this mdat.
    pub fn sample_ranges(&self) -> Result<Vec<Vec<std::ops::Range<usize>>>> {
        self.moof.sample_ranges(self.mdat.data.len())
    }
}
