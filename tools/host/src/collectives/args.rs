//! `ferrite collectives` arguments.

use std::path::PathBuf;

/// `ferrite collectives`: check every collective of a comm backend and time all-reduce.
#[derive(clap::Args, Debug, Clone)]
pub struct CollectivesArgs {
    /// Exported name of the backend (`comm.local` = `local`, `comm.mpi` = `mpi`, or any loaded
    /// `comm.*`).
    #[arg(long, value_name = "NAME", default_value = "local")]
    pub comm: String,
    /// Number of ranks (`comm.local`: threads to start; `comm.mpi`: must equal mpirun's -np).
    #[arg(long, value_name = "N")]
    pub world_size: Option<u32>,
    /// Message sizes per rank to time, in bytes with an optional K/M/G suffix (powers of 1024).
    #[arg(long, value_name = "SIZE,..", value_delimiter = ',', value_parser = parse_size, default_value = "1K,1M,16M")]
    pub sizes: Vec<usize>,
    /// Timed all-reduces per size (after one warm-up).
    #[arg(long, value_name = "K", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub iters: u32,
    /// Backend deadline of one collective, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
    /// Rank that leaves abruptly after the first check (a process exit under MPI, a dropped
    /// group for threads), to see the others fail with a clear error within the timeout.
    #[arg(long, value_name = "RANK")]
    pub simulate_failure: Option<u32>,
    /// Plugin file or directory to search first (repeatable).
    #[arg(long = "plugin-path", value_name = "PATH")]
    pub plugin_path: Vec<PathBuf>,
}

/// Parses `1K`, `64k`, `16M`, `1G` (powers of 1024) or plain bytes; at least 1 byte.
///
/// # Errors
/// Not a number, an unknown suffix, zero, or an overflow.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1usize << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: usize = num.parse().map_err(|_| format!("size `{s}` is not a number of bytes with an optional K/M/G suffix"))?;
    let bytes = n.checked_mul(mult).ok_or_else(|| format!("size `{s}` is too large"))?;
    if bytes == 0 {
        return Err(format!("size `{s}` must be at least 1 byte"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("3"), Ok(3));
        assert!(parse_size("0").unwrap_err().contains("at least 1 byte"));
        assert!(parse_size("1X").unwrap_err().contains("not a number"));
        assert!(parse_size("99999999999999999999G").is_err());
    }
}
