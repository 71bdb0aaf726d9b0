//! Drives workers closed-loop (each one issues its next operation when the
//! last one answered) or open-loop (operations start on a fixed schedule,
//! latency measured from the scheduled start, so a slow server cannot hide
//! its queueing).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// One simulated client. `op` does one unit of work (a lock cycle, an
/// acquire attempt, a renewal...) and says whether it succeeded.
pub trait Worker: Send + 'static {
    fn op(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    #[serde(skip)]
    pub latencies_us: Vec<u32>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub avg_ms: f64,
}

impl Sample {
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.seconds
    }

    pub fn finish(mut self) -> Self {
        self.latencies_us.sort_unstable();
        self.p50_ms = percentile(&self.latencies_us, 0.50) / 1e3;
        self.p99_ms = percentile(&self.latencies_us, 0.99) / 1e3;
        let total: u64 = self.latencies_us.iter().map(|&us| us as u64).sum();
        self.avg_ms = total as f64 / self.latencies_us.len().max(1) as f64 / 1e3;
        self
    }
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64
}

#[derive(Default)]
struct Tally {
    ops: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    first_error: Option<String>,
}

/// Runs every worker flat out; counts what completes inside `duration`,
/// after `warmup`.
pub async fn closed<W: Worker>(workers: Vec<W>, warmup: Duration, duration: Duration) -> Sample {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut tasks = Vec::new();
    for mut worker in workers {
        let (measuring, stop, tally) = (measuring.clone(), stop.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Tally::default();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = worker.op().await;
                if measuring.load(Ordering::Relaxed) {
                    record(&mut mine, result, started.elapsed());
                }
            }
            merge(&tally, mine);
        }));
    }
    tokio::time::sleep(warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    into_sample(&tally, seconds)
}

/// Starts operations at `rate` per second for `duration` on a pool of
/// workers; an operation waiting for a free worker is already late.
pub async fn open<W: Worker>(workers: Vec<W>, rate: f64, duration: Duration) -> Sample {
    let (free_tx, mut free_rx) = tokio::sync::mpsc::unbounded_channel();
    for worker in workers {
        free_tx.send(worker).expect("the receiver is alive");
    }
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tasks = Vec::new();
    let mut k = 0u32;
    loop {
        let scheduled = started + interval * k;
        if scheduled >= started + duration {
            break;
        }
        tokio::time::sleep_until(scheduled.into()).await;
        let Some(mut worker) = free_rx.recv().await else { break };
        let (free_tx, tally) = (free_tx.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let result = worker.op().await;
            let mut mine = Tally::default();
            record(&mut mine, result, scheduled.elapsed());
            merge(&tally, mine);
            let _ = free_tx.send(worker);
        }));
        k += 1;
    }
    for task in tasks {
        let _ = task.await;
    }
    into_sample(&tally, started.elapsed().as_secs_f64())
}

fn record(tally: &mut Tally, result: anyhow::Result<()>, took: Duration) {
    match result {
        Ok(()) => {
            tally.ops += 1;
            tally.latencies_us.push(took.as_micros().min(u32::MAX as u128) as u32);
        }
        Err(error) => {
            tally.errors += 1;
            tally.first_error.get_or_insert_with(|| format!("{error:#}"));
        }
    }
}

fn merge(into: &Mutex<Tally>, mine: Tally) {
    let mut tally = into.lock().expect("no panics while merging");
    tally.ops += mine.ops;
    tally.errors += mine.errors;
    tally.latencies_us.extend(mine.latencies_us);
    if tally.first_error.is_none() {
        tally.first_error = mine.first_error;
    }
}

fn into_sample(tally: &Mutex<Tally>, seconds: f64) -> Sample {
    let mut tally = tally.lock().expect("no panics while merging");
    if let Some(error) = tally.first_error.take() {
        eprintln!("  ({} errors; first: {error})", tally.errors);
    }
    Sample {
        ops: tally.ops,
        errors: tally.errors,
        seconds,
        latencies_us: std::mem::take(&mut tally.latencies_us),
        ..Sample::default()
    }
    .finish()
}
