//! `--split-cores`: PostgreSQL on cores of its own, as on a database host of
//! its own, and everything the bench runs (servers, load generator, pgbench)
//! on the first core. Shared cores make each side slow the other (docs/benchmarks.md,
//! "Where A's CPU goes"); split, A and B still face the same PostgreSQL.

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

/// Keeps PostgreSQL's processes on every core but the first until dropped.
pub struct PostgresPinned {
    postmaster: i32,
}

/// Puts this process, and every thread and child it starts from now on, on
/// the first core. Call before any thread is started.
pub fn pin_this_process() -> anyhow::Result<()> {
    set_affinity(0, &[0]).context("pin the bench to core 0")
}

impl PostgresPinned {
    /// Moves the postmaster and its children (backends started later inherit
    /// it) to cores 1.. . PostgreSQL must run on this machine, and the bench
    /// may change its processes' affinity (root, or PostgreSQL's user).
    pub async fn pin(url: &str) -> anyhow::Result<Self> {
        let cores = all_cores();
        if cores.len() < 2 {
            bail!("--split-cores needs at least 2 cores");
        }
        let mut conn = PgConnection::connect(url).await?;
        let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut conn).await?;
        let postmaster = parent(backend).context("--split-cores needs PostgreSQL on this machine")?;
        drop(conn);
        for pid in family(postmaster) {
            set_affinity(pid, &cores[1..])
                .with_context(|| format!("pin PostgreSQL's process {pid} (run as root or as its user)"))?;
        }
        eprintln!("split cores: PostgreSQL on cores 1-{}, the bench on core 0", cores.len() - 1);
        Ok(Self { postmaster })
    }
}

impl Drop for PostgresPinned {
    fn drop(&mut self) {
        let cores = all_cores();
        for pid in family(self.postmaster) {
            let _ = set_affinity(pid, &cores);
        }
    }
}

/// How many cores the machine has online (not this process: it may be pinned).
pub fn machine_cores() -> usize {
    // SAFETY: sysconf only reads a system setting.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    online.max(1) as usize
}

fn all_cores() -> Vec<usize> {
    (0..machine_cores()).collect()
}

/// The postmaster and its children.
fn family(postmaster: i32) -> Vec<i32> {
    let children = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent(pid) == Some(postmaster));
    std::iter::once(postmaster).chain(children).collect()
}

fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (in parentheses, may hold spaces): state, ppid.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

fn set_affinity(pid: i32, cores: &[usize]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO and CPU_SET write inside it
    // for indices below CPU_SETSIZE, which the machine's cores are.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &core in cores {
            libc::CPU_SET(core, &mut set);
        }
        set
    };
    // SAFETY: the set is initialised and its size is passed with it.
    let done = unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if done != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
