//! `shieldpack batch`: a catalogue folder to one package per title.
//!
//! Opens the keyring once, selects this shard's titles, cleans what a killed run
//! left, and hands the rest to `batch::run`. While it runs this draws an overall
//! bar plus one bar per running title on stderr (TTY only), and prints JSON Lines
//! events on stdout with `--json` or a line per title on stderr without; it ends
//! with `batch-report.json` in OUTROOT and a summary. Exit 1
//! when a title failed, 2 when nothing could start.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use shieldpack::cli::BatchArgs;
use shieldpack::output::{Bar, Printer};
use shieldpack::Status;
use shieldpack_batch::{
    self as batch, catalog::Filter, Observer, Shard, Title, TitleReport, TitleStatus,
};
use shieldpack_core::progress::{NoProgress, Progress};

/// Reports a run: JSON Lines, bars, or lines for people.
struct Reporter<'a> {
    p: &'a Printer,
    bars: Option<Bars>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<String, ProgressBar>>,
}

impl Reporter<'_> {
    /// Prints a line for people without tearing the bars.
    fn say(&self, f: impl FnOnce()) {
        match &self.bars {
            Some(b) => b.multi.suspend(f),
            None => f(),
        }
    }

    fn event(&self, name: &str, mut v: Value) {
        if let Value::Object(m) = &mut v {
            m.insert("event".into(), name.into());
        }
        // A closed stdout ends the command when it prints its summary.
        let _ = self.p.json_value(&v);
    }
}

impl Observer for Reporter<'_> {
    fn started(&self, t: &Title, reason: &str) -> Box<dyn Progress> {
        if self.p.json {
            self.event(
                "start",
                json!({"content_id": t.id, "source": t.source, "reason": reason}),
            );
        }
        self.say(|| {
            self.p
                .detail(format!("packaging {} <- {} ({reason})", t.id, t.source))
        });
        let Some(b) = &self.bars else {
            return Box::new(NoProgress);
        };
        let bar = b.multi.insert_before(
            &b.overall,
            ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::hidden()),
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix:>28!} [{bar:30}] {percent:>3}% {elapsed}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix(t.id.clone());
        b.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(t.id.clone(), bar.clone());
        Box::new(Bar(bar))
    }

    fn finished(&self, r: &TitleReport) {
        if let Some(b) = &self.bars {
            if let Some(bar) = b
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&r.content_id)
            {
                bar.finish_and_clear();
                b.multi.remove(&bar);
            }
            b.overall.inc(1);
        }
        if self.p.json {
            let name = match r.status {
                TitleStatus::Done => "done",
                TitleStatus::Skipped => "skipped",
                TitleStatus::Failed => "failed",
                TitleStatus::Planned => "planned",
                TitleStatus::NotRun => "not-run",
            };
            self.event(name, json!(r));
            return;
        }
        self.say(|| match r.status {
            TitleStatus::Done => {
                self.p.ok(format!(
                    "{} <- {}: {} segment(s), {:.1}s of media in {:.1}s",
                    r.content_id,
                    r.source,
                    r.segments.unwrap_or(0),
                    r.duration.unwrap_or(0.0),
                    r.seconds.unwrap_or(0.0)
                ));
                for w in &r.warnings {
                    self.p.warn(format!("{}: {w}", r.content_id));
                }
            }
            TitleStatus::Skipped => self.p.detail(format!(
                "skipped {} <- {}: up to date",
                r.content_id, r.source
            )),
            TitleStatus::Failed => {
                self.p.warn(format!(
                    "{} <- {} failed: {}",
                    r.content_id,
                    r.source,
                    r.error.as_deref().unwrap_or("")
                ));
                if let Some(h) = &r.hint {
                    self.p.info(format!("  hint: {h}"));
                }
            }
            TitleStatus::Planned | TitleStatus::NotRun => {}
        });
    }
}

pub fn run(a: BatchArgs, p: &Printer) -> anyhow::Result<Status> {
    let shard = match &a.shard {
        Some(s) => Shard::parse(s)?,
        None => Shard::ALL,
    };
    let jobs = match a.jobs {
        Some(0) => {
            return Err(shieldpack_core::Error::arg(
                "--jobs 0 would package nothing",
                "give 1 or more, or leave --jobs out to use every core",
            )
            .into())
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let filter = Filter::new(&a.include, &a.exclude)?;
    // Checked once here so a bad flag fails before any title, not once per title.
    let rotation = super::package::load_rotation(&a.flags, p)?;
    let template = super::package::options_for(
        &a.flags,
        &a.catalog,
        &a.output,
        "batch".into(),
        true,
        rotation.as_ref(),
    )?;
    shieldpack_package::check_options(&template)?;
    let ladder: Option<shieldpack_core::ladder::LadderSpec> =
        a.ladder.as_deref().map(str::parse).transpose()?;

    let selection = batch::select(&a.catalog, &filter, shard, &a.output, a.follow_links)?;
    for w in &selection.warnings {
        p.warn(w);
    }
    let keyring_path = a.keyring.as_ref().filter(|_| !a.flags.clear);
    // A dry run reads only the keyring's public part, so it needs no identity.
    let (keyring, public) = match keyring_path {
        None => (None, None),
        Some(k) if a.dry_run => (None, Some(shieldpack_core::keys::KeyringFile::load(k)?)),
        Some(k) => (
            Some(shieldpack::cmd::open_keyring(
                k,
                &a.identities.identities,
                p,
            )?),
            None,
        ),
    };
    let keyring_file = keyring.as_ref().map(|k| &k.file).or(public.as_ref());

    // Held to the end: a second run of this shard into this OUTROOT would
    // package the same titles into the same folders, so it is refused at once.
    let _lock = if a.dry_run {
        None
    } else {
        std::fs::create_dir_all(&a.output).map_err(|e| shieldpack_core::Error::io(&a.output, e))?;
        Some(shieldpack_core::fsutil::JobLock::take(
            &a.output.join(batch::lock_name(shard)),
            "batch",
        )?)
    };
    if !a.dry_run {
        for gone in batch::clean_stale(&a.output, &selection.titles)? {
            p.detail(format!(
                "removed {} left by an interrupted run",
                gone.display()
            ));
        }
    }

    let bars = (p.draws_progress() && !a.dry_run).then(|| {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(selection.titles.len() as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>28} [{bar:30}] {pos}/{len} titles {elapsed_precise} eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        overall.set_prefix("batch");
        overall.enable_steady_tick(Duration::from_millis(200));
        Bars {
            multi,
            overall,
            running: Mutex::new(HashMap::new()),
        }
    });
    let reporter = Reporter { p, bars };
    let settings = batch::Settings {
        outroot: &a.output,
        jobs,
        force: a.force,
        dry_run: a.dry_run,
        keyring: keyring.as_ref(),
        keyring_file,
        template: &template,
        ladder: ladder.as_ref(),
    };
    let report = batch::run(&selection.titles, &settings, &reporter);
    if let Some(b) = &reporter.bars {
        b.overall.finish_and_clear();
        let _ = b.multi.clear();
    }

    let report_path = if a.dry_run {
        None
    } else {
        Some(batch::write_report(
            &a.output,
            &a.catalog,
            shard,
            selection.catalog_titles,
            &report,
        )?)
    };
    let s = &report.summary;
    if p.json {
        p.json_value(&json!({
            "event": "summary",
            "catalog_titles": selection.catalog_titles,
            "shard": shard.to_string(),
            "titles": s.titles,
            "done": s.done,
            "skipped": s.skipped,
            "failed": s.failed,
            "planned": s.planned,
            "not_run": s.not_run,
            "seconds": (s.seconds * 1000.0).round() / 1000.0,
            "interrupted": report.interrupted,
            "report": report_path,
        }))?;
    } else if a.dry_run {
        for r in &report.titles {
            p.data(format!(
                "{}\t{}\t{}\t{}",
                r.action.unwrap_or("-"),
                r.content_id,
                r.source,
                r.reason.as_deref().unwrap_or("")
            ))?;
        }
    }
    if !p.json {
        let of = if shard.is_all() {
            String::new()
        } else {
            format!(
                " in shard {shard} (of {} in the catalogue)",
                selection.catalog_titles
            )
        };
        let counts = if a.dry_run {
            let to_do = report
                .titles
                .iter()
                .filter(|r| r.action == Some("package"))
                .count();
            format!("{to_do} to package, {} up to date", s.titles - to_do)
        } else {
            format!(
                "{} packaged, {} skipped (up to date), {} failed{} in {:.1}s",
                s.done,
                s.skipped,
                s.failed,
                if s.not_run > 0 {
                    format!(", {} not run", s.not_run)
                } else {
                    String::new()
                },
                s.seconds
            )
        };
        p.info(format!("batch: {} titles{of}: {counts}", s.titles));
        if let Some(path) = &report_path {
            p.info(format!("report: {}", path.display()));
        }
    }
    if report.interrupted {
        return Err(shieldpack_core::Error::Interrupted.into());
    }
    Ok(if s.failed > 0 {
        Status::Negative
    } else {
        Status::Success
    })
}
