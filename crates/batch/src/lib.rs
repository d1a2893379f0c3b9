//! Catalogue batches: package every title of a folder tree, in parallel,
//! resumably, and shardable across machines.
//!
//! `catalog` finds the titles and names them, `shard` picks this machine's part,
//! `state` decides which are already done, and `run` packages the rest on a pool
//! of worker threads sharing one unlocked `Keyring`. A title's failure (or panic)
//! is recorded and the others go on. This module never prints: it reports through
//! an `Observer`, and the command turns that into progress bars or JSON Lines.

pub mod catalog;
pub mod shard;
pub mod state;

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

pub use catalog::Title;
pub use shard::Shard;

use shieldpack_core::error::{Error, IoContext, Result};
use shieldpack_core::keys::{Keyring, KeyringFile};
use shieldpack_core::ladder::LadderSpec;
use shieldpack_core::progress::{NoProgress, Progress};
use shieldpack_package::{self as package, CoreLender, Options};
use state::{Decision, InputFingerprint, State};

/// Workers share one unlocked keyring by reference; this fails to compile if
/// it ever stops being shareable across threads.
const _: () = {
    const fn shareable<T: Sync>() {}
    shareable::<Keyring>()
};

/// How a title ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TitleStatus {
    /// Packaged in this run.
    Done,
    /// Finished before and unchanged.
    Skipped,
    /// Could not be packaged; the others went on.
    Failed,
    /// `--dry-run`: what would be done.
    Planned,
    /// Stopped by Ctrl-C, or never started because of it.
    NotRun,
}

/// One title's line in the report (and in the JSON events).
#[derive(Debug, Clone, Serialize)]
pub struct TitleReport {
    pub content_id: String,
    pub source: String,
    pub status: TitleStatus,
    /// Why it was packaged or skipped ("new", "input changed", "up to date"...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With --dry-run: "package" or "skip".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    /// The package folder, for done and skipped titles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// Media duration in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_periods: Option<usize>,
    /// Wall-clock seconds spent packaging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// What `package` would have warned about for this title (open-GOP or
    /// intra-refresh input, frames before the first keyframe, scenes off
    /// keyframes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl TitleReport {
    fn new(t: &Title, status: TitleStatus) -> Self {
        TitleReport {
            content_id: t.id.clone(),
            source: t.source.clone(),
            status,
            reason: None,
            action: None,
            output: None,
            duration: None,
            segments: None,
            key_periods: None,
            seconds: None,
            error: None,
            hint: None,
            warnings: Vec::new(),
        }
    }

    fn failed(t: &Title, e: &Error) -> Self {
        TitleReport {
            error: Some(e.to_string()),
            hint: e.hint(),
            ..TitleReport::new(t, TitleStatus::Failed)
        }
    }
}

/// Counts per status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub titles: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    pub planned: usize,
    pub not_run: usize,
    pub seconds: f64,
}

/// Everything a run did, in catalogue order.
#[derive(Debug, Clone)]
pub struct Report {
    pub titles: Vec<TitleReport>,
    pub summary: Summary,
    pub interrupted: bool,
}

/// Where a run reports as it goes. Called from worker threads.
pub trait Observer: Sync {
    /// A title starts packaging; the returned progress gets its segment positions.
    fn started(&self, _title: &Title, _reason: &str) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
    /// A title ended (done, skipped, failed, planned or not run).
    fn finished(&self, _report: &TitleReport) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// The titles of this shard, after the whole catalogue was checked for
/// collisions (so every shard refuses the same catalogue).
#[derive(Debug)]
pub struct Selection {
    pub titles: Vec<Title>,
    /// Titles in the catalogue, before sharding.
    pub catalog_titles: usize,
    pub warnings: Vec<String>,
}

/// Walks, checks ids and shards. Errors here mean nothing could start.
/// `follow_links`: package what symlinks lead to outside the catalogue too.
pub fn select(
    catalog: &Path,
    filter: &catalog::Filter,
    shard: Shard,
    outroot: &Path,
    follow_links: bool,
) -> Result<Selection> {
    let walk = catalog::walk(catalog, filter, Some(outroot), follow_links)?;
    catalog::check_collisions(&walk.titles)?;
    let catalog_titles = walk.titles.len();
    Ok(Selection {
        titles: walk
            .titles
            .into_iter()
            .filter(|t| shard.takes(&t.id))
            .collect(),
        catalog_titles,
        warnings: walk.warnings,
    })
}

/// Removes staging folders (`.<id>.partial-*`) and set-aside old packages
/// (`.<id>.old-*`) that a killed run left in `outroot`, for `titles` only (other
/// shards may be writing theirs into the same OUTROOT right now), and only
/// those no live process holds (`fsutil::remove_abandoned_staging`): a second
/// run of the same shard started by mistake must not pull the first one's out
/// from under it.
pub fn clean_stale(outroot: &Path, titles: &[Title]) -> Result<Vec<PathBuf>> {
    let ids: BTreeSet<&str> = titles.iter().map(|t| t.id.as_str()).collect();
    shieldpack_core::fsutil::remove_abandoned_staging(outroot, |id| ids.contains(id))
}

/// How to run.
pub struct Settings<'a> {
    pub outroot: &'a Path,
    pub jobs: usize,
    /// Repackage even finished, unchanged titles.
    pub force: bool,
    /// Decide, report, package nothing.
    pub dry_run: bool,
    /// The unlocked keyring; None for clear packages and dry runs.
    pub keyring: Option<&'a Keyring>,
    /// The keyring's public part, whose fingerprint and key generations the
    /// state records (readable without unlocking, for dry runs); None for clear
    /// packages.
    pub keyring_file: Option<&'a KeyringFile>,
    /// The package options every title shares; input, output and content id are
    /// set per title.
    pub template: &'a Options,
    /// Transcode each title into this ladder first (`--ladder`), then package
    /// every rung as a rendition.
    pub ladder: Option<&'a LadderSpec>,
}

/// Packages (or, dry, plans) `titles`, `jobs` at a time.
pub fn run(titles: &[Title], s: &Settings, obs: &dyn Observer) -> Report {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<TitleReport>>> = Mutex::new(vec![None; titles.len()]);
    let workers = s.jobs.max(1).min(titles.len().max(1));
    // A title's second thread (its writer) only pays when a core would otherwise idle;
    // with every core running a title it is hand-over cost (see
    // `Options::overlap`): about 8% more CPU and a slower batch.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let overlap = workers < cores;
    // Once the queue is empty, a worker that ends leaves its core idle, and
    // the titles still running borrow it (`Options::idle`).
    let idle = (!overlap).then(IdleCores::default);
    let running = AtomicUsize::new(workers);
    let order = largest_first(titles);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    if shieldpack_core::interrupt::check().is_err() {
                        break;
                    }
                    let Some(&i) = order.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        break;
                    };
                    let t = &titles[i];
                    let r = run_one(t, s, overlap, idle.as_ref(), obs);
                    obs.finished(&r);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
                // With more workers than cores, the first ones to end free no core.
                if running.fetch_sub(1, Ordering::SeqCst) - 1 < cores {
                    if let Some(idle) = &idle {
                        idle.give();
                    }
                }
            });
        }
    });
    let interrupted = shieldpack_core::interrupt::check().is_err();
    let reports: Vec<TitleReport> = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(titles)
        .map(|(r, t)| r.unwrap_or_else(|| TitleReport::new(t, TitleStatus::NotRun)))
        .collect();
    let mut summary = Summary {
        titles: reports.len(),
        seconds: started.elapsed().as_secs_f64(),
        ..Summary::default()
    };
    for r in &reports {
        *match r.status {
            TitleStatus::Done => &mut summary.done,
            TitleStatus::Skipped => &mut summary.skipped,
            TitleStatus::Failed => &mut summary.failed,
            TitleStatus::Planned => &mut summary.planned,
            TitleStatus::NotRun => &mut summary.not_run,
        } += 1;
    }
    Report {
        titles: reports,
        summary,
        interrupted,
    }
}

/// The order the workers take titles in: largest input first. Packaging time
/// follows the input's size, so the long titles start early and the short
/// ones fill in at the end; in catalogue order a long title that comes last
/// runs alone while the other workers have nothing left to do. Ties keep
/// catalogue order, and so does a file that cannot be read (it counts as
/// empty, and fails with a proper message when its turn comes).
fn largest_first(titles: &[Title]) -> Vec<usize> {
    let sizes: Vec<u64> = titles
        .iter()
        .map(|t| std::fs::metadata(&t.path).map_or(0, |m| m.len()))
        .collect();
    let mut order: Vec<usize> = (0..titles.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    order
}

fn run_one(
    t: &Title,
    s: &Settings,
    overlap: bool,
    idle: Option<&IdleCores>,
    obs: &dyn Observer,
) -> TitleReport {
    if let Some(why) = &t.refused {
        return TitleReport {
            error: Some(why.clone()),
            hint: Some(catalog::FOLLOW_LINKS_HINT.into()),
            ..TitleReport::new(t, TitleStatus::Failed)
        };
    }
    let dir = s.outroot.join(&t.id);
    let input = match InputFingerprint::of(&t.path) {
        Ok(f) => f,
        Err(e) => return TitleReport::failed(t, &e),
    };
    let want = State::new(
        t,
        input,
        s.keyring_file,
        state::flags_of(s.template, s.ladder),
    );
    let decision = state::decide(&dir, &want, s.force);
    if s.dry_run {
        let (action, reason) = match decision {
            Decision::Skip => ("skip", "up to date"),
            Decision::Package(why) => ("package", why),
        };
        return TitleReport {
            action: Some(action),
            reason: Some(reason.into()),
            ..TitleReport::new(t, TitleStatus::Planned)
        };
    }
    let reason = match decision {
        Decision::Skip => {
            return TitleReport {
                reason: Some("up to date".into()),
                output: Some(dir),
                ..TitleReport::new(t, TitleStatus::Skipped)
            }
        }
        Decision::Package(why) => why,
    };
    let o = Options {
        input: t.path.clone(),
        output: dir.clone(),
        content_id: t.id.clone(),
        // A stale or changed package is replaced whole, as `package --force` does.
        force: true,
        extra_files: vec![(state::STATE_FILE.into(), want.to_json())],
        // `clean_stale` did this for every title of the run.
        clean_abandoned: false,
        overlap,
        idle: idle.map(|i| Arc::new(i.clone()) as Arc<dyn CoreLender>),
        ..s.template.clone()
    };
    let progress = obs.started(t, reason);
    let clock = Instant::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| match s.ladder {
        None => package::package(&o, s.keyring, &*progress),
        Some(spec) => package::ladder::package_ladder(
            &o,
            spec,
            &shieldpack_media::ladder::EncodeSettings::default(),
            s.keyring,
            &*progress,
        )
        .map(|made| made.outcome),
    }));
    drop(progress);
    let seconds = (clock.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    match result {
        Ok(Ok(outcome)) => {
            let m = &outcome.manifest;
            TitleReport {
                reason: Some(reason.into()),
                output: Some(dir),
                duration: Some(m.source.duration),
                segments: Some(m.segments().count()),
                key_periods: Some(m.key_periods().len()),
                seconds: Some(seconds),
                warnings: outcome.warnings,
                ..TitleReport::new(t, TitleStatus::Done)
            }
        }
        Ok(Err(Error::Interrupted)) => TitleReport {
            reason: Some("interrupted".into()),
            ..TitleReport::new(t, TitleStatus::NotRun)
        },
        Ok(Err(e)) => TitleReport {
            seconds: Some(seconds),
            ..TitleReport::failed(t, &e)
        },
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            TitleReport {
                error: Some(format!(
                    "{}: internal error while packaging: {what}",
                    t.path.display()
                )),
                hint: Some(
                    "this is a shieldpack bug; please report it with `shieldpack inspect` output for the input"
                        .into(),
                ),
                ..TitleReport::new(t, TitleStatus::Failed)
            }
        }
    }
}

/// The lock file a run takes in OUTROOT (`fsutil::JobLock`), one per shard
/// like the report: shards are meant to share an OUTROOT, two runs of one
/// shard are not (they would package the same titles into the same folders).
pub fn lock_name(shard: Shard) -> String {
    if shard.is_all() {
        ".batch.lock".into()
    } else {
        format!(".batch-{}-of-{}.lock", shard.index, shard.count)
    }
}

/// The report file's name: one per shard, so shards sharing an OUTROOT do not
/// overwrite each other's.
pub fn report_name(shard: Shard) -> String {
    if shard.is_all() {
        "batch-report.json".into()
    } else {
        format!("batch-report-{}-of-{}.json", shard.index, shard.count)
    }
}

/// Writes the report into `outroot` atomically; returns its path.
pub fn write_report(
    outroot: &Path,
    catalog: &Path,
    shard: Shard,
    catalog_titles: usize,
    report: &Report,
) -> Result<PathBuf> {
    let path = outroot.join(report_name(shard));
    let doc = serde_json::json!({
        "format": "shieldpack-batch-report",
        "version": 1,
        "tool_version": env!("CARGO_PKG_VERSION"),
        "catalog": catalog,
        "outroot": outroot,
        "shard": shard.to_string(),
        "catalog_titles": catalog_titles,
        "interrupted": report.interrupted,
        "summary": report.summary,
        "titles": report.titles,
    });
    let mut bytes = serde_json::to_vec_pretty(&doc).expect("a report serialises");
    bytes.push(b'\n');
    std::fs::create_dir_all(outroot).at(outroot)?;
    shieldpack_core::fsutil::write_atomic(&path, &bytes, 0o644, true)?;
    Ok(path)
}

/// The cores of workers that found no title left, counted, for the titles
/// still running to borrow (`package::Options::idle`). A handle: clones share
/// the count.
#[derive(Debug, Default, Clone)]
pub struct IdleCores(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    free: AtomicUsize,
    lent: AtomicUsize,
}

/// A borrowed core; dropping it gives the core back.
#[derive(Debug)]
struct LentCore(IdleCores);

impl IdleCores {
    /// One more core is idle.
    pub fn give(&self) {
        self.0.free.fetch_add(1, Ordering::AcqRel);
    }

    /// How many times a core was lent.
    pub fn lent(&self) -> usize {
        self.0.lent.load(Ordering::Relaxed)
    }
}

impl CoreLender for IdleCores {
    /// Borrows an idle core, if there is one. One atomic load when there is not.
    fn take(&self) -> Option<Box<dyn Send>> {
        self.0
            .free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()?;
        self.0.lent.fetch_add(1, Ordering::Relaxed);
        Some(Box::new(LentCore(self.clone())))
    }
}

impl Drop for LentCore {
    fn drop(&mut self) {
        self.0.give();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_taken_largest_first_with_ties_in_catalogue_order() {
        let d = tempfile::tempdir().unwrap();
        let t = |name: &str, len: usize| {
            let path = d.path().join(name);
            if len > 0 {
                std::fs::write(&path, vec![0u8; len]).unwrap();
            }
            Title {
                id: name.into(),
                source: name.into(),
                path,
                refused: None,
            }
        };
        // "gone" does not exist: it sorts as empty and keeps its place among the empties.
        let titles = [
            t("a", 10),
            t("gone", 0),
            t("b", 30),
            t("c", 20),
            t("d", 30),
            t("e", 1),
        ];
        assert_eq!(largest_first(&titles), vec![2, 4, 3, 0, 5, 1]);
        assert!(largest_first(&[]).is_empty());
    }

    #[test]
    fn stale_staging_of_this_shard_only_is_removed() {
        let d = tempfile::tempdir().unwrap();
        // Title c is being packaged right now, by a live run.
        let live =
            shieldpack_core::fsutil::StagedDir::new(&d.path().join("c"), false, false).unwrap();
        for n in [
            ".a.partial-x1",
            ".a.old-12",
            ".b.partial-y",
            "a",
            ".a-b.partial-z",
        ] {
            std::fs::create_dir(d.path().join(n)).unwrap();
        }
        let t = |id: &str| Title {
            id: id.into(),
            source: format!("{id}.mp4"),
            path: PathBuf::new(),
            refused: None,
        };
        let removed = clean_stale(d.path(), &[t("a"), t("a-b"), t("c")]).unwrap();
        assert_eq!(removed.len(), 3, "{removed:?}");
        assert!(d.path().join(".b.partial-y").is_dir());
        assert!(d.path().join("a").is_dir());
        assert!(live.path().is_dir(), "a live run's staging was removed");
        let staged = live.path().to_path_buf();
        drop(live);
        assert!(!staged.exists());
    }
}
