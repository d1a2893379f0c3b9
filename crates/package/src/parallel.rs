//! Several renditions of one title packaged at once, one per core.
//!
//! Each rendition's pipeline is mostly one thread (demux and mux; the writer
//! thread encrypts and writes, a small share), so on a machine with spare
//! cores the renditions of a title run side by side: four pre-encoded
//! renditions on two cores take about half the wall time they take one after
//! another (bench/renditions), with the memory of two pipelines, not four.
//! Results come back in rendition order, whatever order the jobs end in.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use shieldpack_core::error::{Error, Result};
use shieldpack_core::progress::Progress;

/// How many renditions to run at once: one per core, never more than there
/// are renditions; one when the caller runs titles in parallel itself
/// (`batch`, which clears `Options::overlap` when its workers fill the cores).
pub(crate) fn workers(jobs: usize, overlap: bool) -> usize {
    if !overlap {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(jobs).max(1)
}

/// Runs `job(0..n)` on `workers` threads and returns the results in index
/// order, or the error of the lowest-numbered job that failed. After a
/// failure no further job starts; those running finish (they stop early on
/// Ctrl-C, which every pipeline checks). Progress is the sum of the jobs'.
pub(crate) fn ordered<T, F>(
    n: usize,
    workers: usize,
    progress: &dyn Progress,
    job: F,
) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize, &dyn Progress) -> Result<T> + Sync,
{
    let sum = Summed::new(progress, n);
    if workers <= 1 {
        return (0..n).map(|i| job(i, &sum.slot(i))).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Result<T>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.min(n) {
            scope.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = job(i, &sum.slot(i));
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    let mut out = Vec::with_capacity(n);
    let mut not_run = false;
    for s in slots {
        match s.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(t)) => out.push(t),
            Some(Err(e)) => return Err(e),
            None => not_run = true,
        }
    }
    // A job is left unrun only after another failed, and that error was
    // returned above; this is for a failure that raced past every slot.
    if not_run {
        return Err(Error::Interrupted);
    }
    Ok(out)
}

/// The jobs' progress as one bar: lengths and positions added up. A job not
/// started yet counts with the longest length seen (the renditions of a
/// title last about as long as each other).
struct Summed<'p> {
    outer: &'p dyn Progress,
    lengths: Vec<AtomicU64>,
    positions: Vec<AtomicU64>,
}

impl<'p> Summed<'p> {
    fn new(outer: &'p dyn Progress, n: usize) -> Self {
        Summed {
            outer,
            lengths: (0..n).map(|_| AtomicU64::new(0)).collect(),
            positions: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn slot(&self, i: usize) -> Slot<'_, 'p> {
        Slot { sum: self, i }
    }

    fn length(&self) -> u64 {
        let known: Vec<u64> = self
            .lengths
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .collect();
        let longest = known.iter().copied().max().unwrap_or(0);
        known
            .iter()
            .map(|&l| if l == 0 { longest } else { l })
            .sum()
    }
}

struct Slot<'s, 'p> {
    sum: &'s Summed<'p>,
    i: usize,
}

impl Progress for Slot<'_, '_> {
    fn set_length(&self, len: u64) {
        self.sum.lengths[self.i].store(len, Ordering::Relaxed);
        self.sum.outer.set_length(self.sum.length().max(1));
    }

    fn set_position(&self, pos: u64) {
        self.sum.positions[self.i].store(pos, Ordering::Relaxed);
        let at: u64 = self
            .sum
            .positions
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .sum();
        self.sum.outer.set_position(at);
    }
}

/// The first video rendition's cuts (segment start times, after zero), as
/// its writer makes them, for alternate audio renditions cut at the same
/// times on threads of their own meanwhile: an audio track need not wait for
/// the whole video pass to learn where to cut (on the bench's cmaf title,
/// the audio pass was a tenth of `package`'s wall time, one core idle).
/// Each reader blocks until the cut it needs is known or the feed closes.
pub(crate) struct CutFeed {
    state: Mutex<(Vec<f64>, bool)>,
    changed: Condvar,
}

impl CutFeed {
    pub(crate) fn new() -> Self {
        CutFeed {
            state: Mutex::new((Vec::new(), false)),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<f64>, bool)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds the next cut (ascending).
    pub(crate) fn push(&self, at: f64) {
        self.lock().0.push(at);
        self.changed.notify_all();
    }

    /// No cut follows: the video pass ended (or failed, and the package
    /// with it). Readers then run to the end of their input.
    pub(crate) fn close(&self) {
        self.lock().1 = true;
        self.changed.notify_all();
    }

    /// Every cut, from the first, each as soon as it is known.
    pub(crate) fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let mut next = 0usize;
        std::iter::from_fn(move || {
            let mut st = self.lock();
            while st.0.len() <= next && !st.1 {
                st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            let at = st.0.get(next).copied();
            next += 1;
            at
        })
    }

    /// Closes the feed when dropped: whatever way the video pass ends,
    /// no reader waits forever.
    pub(crate) fn closer(&self) -> Closer<'_> {
        Closer(self)
    }
}

pub(crate) struct Closer<'f>(&'f CutFeed);

impl Drop for Closer<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen {
        len: AtomicU64,
        pos: AtomicU64,
    }
    impl Progress for Seen {
        fn set_length(&self, len: u64) {
            self.len.store(len, Ordering::Relaxed);
        }
        fn set_position(&self, pos: u64) {
            self.pos.store(pos, Ordering::Relaxed);
        }
    }

    #[test]
    fn results_come_back_in_order_whatever_order_jobs_end_in() {
        let seen = Seen::default();
        let got = ordered(5, 3, &seen, |i, p| {
            // Later jobs end first.
            std::thread::sleep(std::time::Duration::from_millis(5 * (5 - i as u64)));
            p.set_length(100);
            p.set_position(100);
            Ok(i * 10)
        })
        .unwrap();
        assert_eq!(got, vec![0, 10, 20, 30, 40]);
        assert_eq!(seen.len.load(Ordering::Relaxed), 500);
        assert_eq!(seen.pos.load(Ordering::Relaxed), 500);
    }

    #[test]
    fn the_lowest_numbered_failure_is_the_error() {
        let seen = Seen::default();
        for workers in [1, 2, 4] {
            let got = ordered(6, workers, &seen, |i, _| match i {
                2 => Err(Error::arg("two failed", "none")),
                4 => Err(Error::arg("four failed", "none")),
                _ => Ok(i),
            });
            let e = got.expect_err("a job failed").to_string();
            assert!(e.contains("two failed"), "{workers} workers: {e}");
        }
    }

    #[test]
    fn one_worker_or_no_overlap_runs_one_after_another() {
        assert_eq!(workers(4, false), 1);
        assert!(workers(4, true) >= 1);
        assert!(workers(1, true) == 1);
    }

    #[test]
    fn a_cut_feed_hands_each_reader_every_cut_as_it_comes_and_ends_when_closed() {
        let feed = CutFeed::new();
        let got = std::thread::scope(|s| {
            let readers: Vec<_> = (0..2)
                .map(|_| s.spawn(|| feed.iter().collect::<Vec<f64>>()))
                .collect();
            for t in [6.0, 12.0, 18.5] {
                std::thread::sleep(std::time::Duration::from_millis(5));
                feed.push(t);
            }
            drop(feed.closer());
            readers
                .into_iter()
                .map(|r| r.join().expect("reader"))
                .collect::<Vec<_>>()
        });
        assert_eq!(got, vec![vec![6.0, 12.0, 18.5]; 2]);
        // A reader that starts after the close still sees every cut, then the end.
        assert_eq!(feed.iter().collect::<Vec<f64>>(), vec![6.0, 12.0, 18.5]);
    }
}
