//! The catalogue walk: which files under CATALOG are titles, and the content id
//! each one is packaged under.
//!
//! Content ids come from the path relative to the catalogue so that they are
//! stable across machines and runs (a title keeps its keys and its output folder
//! wherever the catalogue is mounted). The rule, also in `docs/batch.md`: drop
//! the extension, lower-case ASCII, turn every run of characters other than
//! `a-z 0-9 _` (path separators included) into one `-`, trim `-` at both ends.
//! `shows/S01/Ep 1.mp4` -> `shows-s01-ep-1`. Ids are thus safe as folder names,
//! in URLs and in key URIs; two paths that map to one id are a collision, an
//! error reported before anything runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

use shieldpack_core::error::{Error, Result};

/// File extensions (lower case) taken as media; everything else is ignored.
pub const MEDIA_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "ts", "mts", "m2ts", "webm", "avi", "mxf", "mpg", "mpeg", "flv",
    "3gp",
];

/// Longest id made; longer ones are cut and suffixed with a hash of the path.
const MAX_ID: usize = 96;

/// One title of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title {
    /// The content id, also the name of its package folder under OUTROOT.
    pub id: String,
    /// The path relative to the catalogue with `/` separators: what globs match
    /// and what people are shown.
    pub source: String,
    /// The file itself.
    pub path: PathBuf,
    /// Why it is not packaged although found: a symlink that leads out of
    /// the catalogue (without `--follow-links`). Reported as a failed title.
    pub refused: Option<String>,
}

/// The hint for a title refused as a link out of the catalogue.
pub const FOLLOW_LINKS_HINT: &str = "a catalogue is packaged from what is inside it; pass --follow-links to package what symlinks lead to elsewhere, or copy the file into CATALOG";

/// `--include` / `--exclude` globs on the relative path.
pub struct Filter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

fn globset(flag: &str, globs: &[String]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g).map_err(|e| {
            Error::arg(
                format!("{flag} '{g}' is not a glob: {}", e.kind()),
                "use shell-style globs on the path relative to CATALOG, e.g. 'shows/**/*.mp4'",
            )
        })?);
    }
    b.build()
        .map_err(|e| Error::arg(format!("{flag}: {e}"), "simplify the globs"))
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter> {
        Ok(Filter {
            include: if include.is_empty() {
                None
            } else {
                Some(globset("--include", include)?)
            },
            exclude: globset("--exclude", exclude)?,
        })
    }

    /// Everything passes.
    pub fn all() -> Filter {
        Filter {
            include: None,
            exclude: GlobSet::empty(),
        }
    }

    pub fn admits(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(rel)) && !self.exclude.is_match(rel)
    }
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Titles sorted by relative path.
    pub titles: Vec<Title>,
    /// Entries that could not be read (permissions, broken links, symlink loops).
    pub warnings: Vec<String>,
}

/// Whether a file name has a media extension.
pub fn is_media(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MEDIA_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The content id of a title at `rel` (relative path, `/` separators).
pub fn content_id_for(rel: &str) -> String {
    let stem = match rel.rfind('.') {
        Some(dot) if dot > rel.rfind('/').map_or(0, |s| s + 1) => &rel[..dot],
        _ => rel,
    };
    let mut id = String::with_capacity(stem.len());
    let mut gap = false;
    for c in stem.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            if gap && !id.is_empty() {
                id.push('-');
            }
            gap = false;
            id.push(c);
        } else {
            gap = true;
        }
    }
    let hash = || hex::encode(&Sha256::digest(rel.as_bytes())[..6]);
    if id.is_empty() {
        // A name of punctuation only: still a title, with an id that stays put.
        id = format!("title-{}", hash());
    } else if id.len() > MAX_ID {
        id.truncate(MAX_ID - 13);
        id = format!("{}-{}", id.trim_end_matches('-'), hash());
    }
    id
}

fn hidden(e: &walkdir::DirEntry) -> bool {
    e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.')
}

/// Walks `catalog` for media files admitted by `filter`, leaving out hidden
/// entries and the folder `skip` (OUTROOT, when it lies inside the catalogue).
/// Symlinks that resolve inside the catalogue are followed; a link back to one
/// of its own ancestors is reported and not followed. A link that resolves
/// outside it (to `/etc`, to another tenant's folder) is refused unless
/// `follow_links`: a file becomes a title with `refused` set, a folder a
/// warning, and nothing behind it is read.
pub fn walk(
    catalog: &Path,
    filter: &Filter,
    skip: Option<&Path>,
    follow_links: bool,
) -> Result<Walk> {
    let meta = std::fs::metadata(catalog).map_err(|e| {
        Error::missing_or_io(
            catalog,
            e,
            "no such catalogue folder",
            "pass the folder that holds the titles",
        )
    })?;
    if !meta.is_dir() {
        return Err(Error::invalid_file(
            catalog,
            "not a folder",
            "batch takes a folder of titles; package one file with `shieldpack package`",
        ));
    }
    let skip = skip.and_then(|s| s.canonicalize().ok());
    let is_skipped = |e: &walkdir::DirEntry| match &skip {
        Some(s) if e.file_type().is_dir() => e.path().canonicalize().ok().as_ref() == Some(s),
        _ => false,
    };
    let root = catalog.canonicalize().map_err(|e| Error::io(catalog, e))?;
    // Where a symlink leads, when that is outside the catalogue.
    let escapes = |e: &walkdir::DirEntry| -> Option<PathBuf> {
        if follow_links || !e.path_is_symlink() {
            return None;
        }
        match e.path().canonicalize() {
            Ok(target) if target.starts_with(&root) => None,
            Ok(target) => Some(target),
            // Broken links are walkdir's to report.
            Err(_) => None,
        }
    };
    let refused_dirs = std::cell::RefCell::new(Vec::new());
    let mut out = Walk::default();
    let walker = walkdir::WalkDir::new(catalog)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if hidden(e) || is_skipped(e) {
                return false;
            }
            if e.file_type().is_dir() {
                if let Some(target) = escapes(e) {
                    refused_dirs.borrow_mut().push(format!(
                        "{}: a symlink to {}, outside the catalogue: not followed (--follow-links follows it)",
                        e.path().display(),
                        target.display()
                    ));
                    return false;
                }
            }
            true
        });
    for entry in walker {
        let e = match entry {
            Ok(e) => e,
            Err(err) => {
                let at = err
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                out.warnings.push(match err.loop_ancestor() {
                    Some(a) => format!("{at}: symlink loop back to {}, not followed", a.display()),
                    None => format!(
                        "{at}: cannot read ({}), left out",
                        err.io_error().map_or(err.to_string(), |e| e.to_string())
                    ),
                });
                continue;
            }
        };
        if !e.file_type().is_file() || !is_media(e.path()) {
            continue;
        }
        let rel = e.path().strip_prefix(catalog).unwrap_or(e.path());
        let source = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if !filter.admits(&source) {
            continue;
        }
        let refused = escapes(&e).map(|target| {
            format!(
                "{}: a symlink to {}, outside the catalogue: not followed",
                e.path().display(),
                target.display()
            )
        });
        out.titles.push(Title {
            id: content_id_for(&source),
            source,
            path: e.path().to_path_buf(),
            refused,
        });
    }
    out.warnings.extend(refused_dirs.into_inner());
    out.titles.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(out)
}

/// Fails, naming every pair, when two titles map to one content id.
pub fn check_collisions(titles: &[Title]) -> Result<()> {
    let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in titles {
        by_id.entry(&t.id).or_default().push(&t.source);
    }
    let clashes: Vec<String> = by_id
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(id, s)| format!("'{id}' <- {}", s.join(", ")))
        .collect();
    if clashes.is_empty() {
        return Ok(());
    }
    Err(Error::arg(
        format!(
            "{} content id collision(s), so nothing was packaged: {}",
            clashes.len(),
            clashes.join("; ")
        ),
        "content ids come from the path without extension, lower-cased, with runs of other characters as '-'; rename one file of each group, or leave it out with --exclude GLOB",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_paths() {
        assert_eq!(content_id_for("shows/s01/ep 1.mp4"), "shows-s01-ep-1");
        assert_eq!(
            content_id_for("Shows/S01/Ep  1 (final).MOV"),
            "shows-s01-ep-1-final"
        );
        assert_eq!(content_id_for("a.b/c.d.mkv"), "a-b-c-d");
        assert_eq!(content_id_for("noext"), "noext");
        assert_eq!(content_id_for("_x_/--y--.ts"), "_x_-y");
        assert_eq!(content_id_for("été.mp4"), "t");
        assert!(content_id_for("!!!.mp4").starts_with("title-"));
        let long = format!("{}.mp4", "a".repeat(300));
        let id = content_id_for(&long);
        assert_eq!(id.len(), MAX_ID);
        for id in [id, content_id_for("x/../y z.mp4")] {
            shieldpack_core::keys::check_content_id(&id).unwrap();
        }
    }

    #[test]
    fn collisions_name_both_paths() {
        let t = |s: &str| Title {
            id: content_id_for(s),
            source: s.into(),
            path: s.into(),
            refused: None,
        };
        let e = check_collisions(&[t("a b.mp4"), t("a-b.mkv"), t("c.mp4")]).unwrap_err();
        assert!(e.to_string().contains("'a-b' <- a b.mp4, a-b.mkv"), "{e}");
        assert!(check_collisions(&[t("a.mp4"), t("b.mp4")]).is_ok());
    }

    #[test]
    fn globs_match_relative_paths() {
        let f = Filter::new(&["shows/**".into()], &["**/extra*".into()]).unwrap();
        assert!(f.admits("shows/s01/ep1.mp4"));
        assert!(!f.admits("films/a.mp4"));
        assert!(!f.admits("shows/s01/extra1.mp4"));
        assert!(Filter::new(&["[".into()], &[]).is_err());
    }
}
