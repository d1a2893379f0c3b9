//! ISO BMFF (ISO/IEC 14496-12) for shieldpack's CMAF output: every box the
//! packager writes is a type here with a writer and a parser, so what is
//! written can be read back and checked (`verify`, tests), and common
//! encryption (ISO/IEC 23001-7, `cenc`) works on typed boxes, not offsets.
//!
//! Only what fragmented, encrypted CMAF needs: an init segment (`ftyp` +
//! `moov` with empty sample tables and `mvex`) and media segments (`styp`,
//! `moof` + `mdat`). Boxes this crate does not model are kept as [`RawBox`]
//! where they may appear (codec configurations such as `avcC`, `hvcC`), and
//! skipped elsewhere when parsing.

pub mod avc;
pub mod boxes;
pub mod cenc;
pub mod hevc;
pub mod recrypt;

pub use boxes::*;

/// A box that could not be parsed: which box and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub box_type: String,
    pub reason: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "box '{}': {}", self.box_type, self.reason)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn err<T>(box_type: [u8; 4], reason: impl Into<String>) -> Result<T> {
    Err(Error {
        box_type: fourcc_str(box_type),
        reason: reason.into(),
    })
}

/// A four-character code as text (non-ASCII bytes escaped).
pub fn fourcc_str(t: [u8; 4]) -> String {
    t.iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

/// Reads big-endian fields from a box body, failing (never panicking) when
/// the body is too short.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    box_type: [u8; 4],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], box_type: [u8; 4]) -> Self {
        Reader {
            data,
            pos: 0,
            box_type,
        }
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return err(
                self.box_type,
                format!(
                    "ends {} bytes early (needed {n} at offset {})",
                    n - self.remaining(),
                    self.pos
                ),
            );
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.data[self.pos..];
        self.pos = self.data.len();
        s
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn u24(&mut self) -> Result<u32> {
        let b = self.bytes(3)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }
    /// A full box's version and flags.
    pub fn full(&mut self) -> Result<(u8, u32)> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }
    pub fn fail<T>(&self, reason: impl Into<String>) -> Result<T> {
        err(self.box_type, reason)
    }
}

/// Big-endian writing helpers on a byte vector.
pub trait Put {
    fn u8(&mut self, v: u8);
    fn u16(&mut self, v: u16);
    fn u24(&mut self, v: u32);
    fn u32(&mut self, v: u32);
    fn u64(&mut self, v: u64);
    fn full(&mut self, version: u8, flags: u32);
}

impl Put for Vec<u8> {
    fn u8(&mut self, v: u8) {
        self.push(v)
    }
    fn u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes())
    }
    fn u24(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes()[1..])
    }
    fn u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes())
    }
    fn u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes())
    }
    fn full(&mut self, version: u8, flags: u32) {
        self.u32(u32::from(version) << 24 | (flags & 0x00ff_ffff))
    }
}

/// One box of a type with a writer and a parser.
pub trait Mp4Box: Sized {
    const TYPE: [u8; 4];

    /// Appends the body (everything after the size and type) to `out`.
    fn write_body(&self, out: &mut Vec<u8>);

    /// Parses a body (everything after the size and type).
    fn parse_body(r: &mut Reader) -> Result<Self>;

    /// Appends the whole box (header included) to `out`.
    fn write(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&Self::TYPE);
        self.write_body(out);
        let size = out.len() - at;
        // A box over 4 GiB would need a largesize; nothing shieldpack writes
        // comes near (one segment of one title).
        let size = u32::try_from(size).expect("a box under 4 GiB");
        out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write(&mut v);
        v
    }

    /// Parses one whole box of this type from the start of `data`.
    fn parse(data: &[u8]) -> Result<Self> {
        let raw = RawBox::parse_all(data)?;
        match raw.as_slice() {
            [one] => one.typed(),
            _ => err(
                Self::TYPE,
                format!("expected one box, found {} at the top level", raw.len()),
            ),
        }
    }
}

/// Where a box lies in a buffer: its type, its body, and the whole box.
pub type Span = ([u8; 4], std::ops::Range<usize>, std::ops::Range<usize>);

/// A box as bytes: its type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBox {
    pub box_type: [u8; 4],
    pub body: Vec<u8>,
}

impl RawBox {
    pub fn write(&self, out: &mut Vec<u8>) {
        let size = u32::try_from(self.body.len() + 8).expect("a box under 4 GiB");
        out.u32(size);
        out.extend_from_slice(&self.box_type);
        out.extend_from_slice(&self.body);
    }

    /// Parses this raw box as the typed box `B`, checking its type.
    pub fn typed<B: Mp4Box>(&self) -> Result<B> {
        if self.box_type != B::TYPE {
            return err(
                B::TYPE,
                format!(
                    "found '{}' where it was expected",
                    fourcc_str(self.box_type)
                ),
            );
        }
        let mut r = Reader::new(&self.body, B::TYPE);
        let b = B::parse_body(&mut r)?;
        Ok(b)
    }

    /// Splits `data` into its top-level boxes: size, type (and largesize), body.
    pub fn parse_all(data: &[u8]) -> Result<Vec<RawBox>> {
        Ok(Self::spans(data)?
            .into_iter()
            .map(|(t, body, _)| RawBox {
                box_type: t,
                body: data[body].to_vec(),
            })
            .collect())
    }

    /// The top-level boxes of `data` as (type, body range, whole-box range).
    pub fn spans(data: &[u8]) -> Result<Vec<Span>> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < data.len() {
            let mut r = Reader::new(&data[pos..], *b"????");
            let size = r.u32()? as u64;
            let t: [u8; 4] = r.array()?;
            let (size, header) = match size {
                1 => (r.u64()?, 16u64),
                0 => ((data.len() - pos) as u64, 8),
                s => (s, 8),
            };
            if size < header || size > (data.len() - pos) as u64 {
                return err(
                    t,
                    format!(
                        "size {size} at offset {pos} does not fit the {} bytes there",
                        data.len() - pos
                    ),
                );
            }
            let (size, header) = (size as usize, header as usize);
            out.push((t, pos + header..pos + size, pos..pos + size));
            pos += size;
        }
        Ok(out)
    }
}

/// Parses the children of a container body.
pub(crate) fn children(r: &mut Reader) -> Result<Vec<RawBox>> {
    let rest = r.rest();
    RawBox::parse_all(rest)
}

/// The one child of type `B` among `kids`, or an error naming `parent`.
pub(crate) fn one<B: Mp4Box>(parent: [u8; 4], kids: &[RawBox]) -> Result<B> {
    match opt::<B>(kids)? {
        Some(b) => Ok(b),
        None => err(parent, format!("has no '{}' box", fourcc_str(B::TYPE))),
    }
}

/// The first child of type `B` among `kids`, if any.
pub(crate) fn opt<B: Mp4Box>(kids: &[RawBox]) -> Result<Option<B>> {
    kids.iter()
        .find(|k| k.box_type == B::TYPE)
        .map(|k| k.typed())
        .transpose()
}

/// Every child of type `B` among `kids`.
pub(crate) fn all<B: Mp4Box>(kids: &[RawBox]) -> Result<Vec<B>> {
    kids.iter()
        .filter(|k| k.box_type == B::TYPE)
        .map(|k| k.typed())
        .collect()
}

#[cfg(test)]
mod tests;
