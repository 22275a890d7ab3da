//! A schedule's policies: what a firing does while the previous instance runs (overlap), what
//! happens to firings missed while no worker ran (catch-up), and how long each firing waits after
//! its time (jitter).

/// What a firing does while the previous firing's instance runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overlap {
    /// Skip it.
    #[default]
    Skip,
    /// Start it anyway.
    Allow,
    /// Hold it, and start it once the previous instance has ended (with catch-up `latest`, one held
    /// firing stands for every time that passed meanwhile).
    BufferOne,
}

/// What happens to firings missed while no worker ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CatchUp {
    /// One firing, at once, for all of them.
    #[default]
    Latest,
    /// Each of them, one after the other.
    All,
}

impl Overlap {
    /// `skip`, `allow` or `buffer-one`.
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::Allow => "allow",
            Overlap::BufferOne => "buffer-one",
        }
    }
}

impl std::str::FromStr for Overlap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "skip" => Ok(Overlap::Skip),
            "allow" => Ok(Overlap::Allow),
            "buffer-one" => Ok(Overlap::BufferOne),
            other => Err(format!(
                "overlap {other:?}: expected skip, allow or buffer-one"
            )),
        }
    }
}

impl CatchUp {
    /// `latest` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Latest => "latest",
            CatchUp::All => "all",
        }
    }
}

impl std::str::FromStr for CatchUp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "latest" => Ok(CatchUp::Latest),
            "all" => Ok(CatchUp::All),
            other => Err(format!("catch-up {other:?}: expected latest or all")),
        }
    }
}

/// How long the firing of `schedule` at `fire_ms` waits after its time: from 0 to `jitter_ms`,
/// derived from both (FNV-1a), so every worker waits the same and a restart does not move it.
pub fn jitter_delay_ms(schedule: &str, fire_ms: u64, jitter_ms: u64) -> u64 {
    if jitter_ms == 0 {
        return 0;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in schedule.bytes().chain(fire_ms.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % (jitter_ms + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firing_s_jitter_is_its_own_within_the_bound_and_the_same_every_time() {
        assert_eq!(jitter_delay_ms("s", 1_000, 0), 0);
        let delays: Vec<u64> = (0..50)
            .map(|i| jitter_delay_ms("s", i * 60_000, 30_000))
            .collect();
        assert!(delays.iter().all(|d| *d <= 30_000), "{delays:?}");
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 40, "{delays:?}");
        assert_eq!(delays[7], jitter_delay_ms("s", 7 * 60_000, 30_000));
        assert_ne!(
            jitter_delay_ms("s", 60_000, 30_000),
            jitter_delay_ms("t", 60_000, 30_000)
        );
    }

    #[test]
    fn overlap_policies_read_back_as_written() {
        for overlap in [Overlap::Skip, Overlap::Allow, Overlap::BufferOne] {
            assert_eq!(overlap.as_str().parse::<Overlap>(), Ok(overlap));
        }
        assert!(
            "buffer"
                .parse::<Overlap>()
                .unwrap_err()
                .contains("buffer-one")
        );
    }
}
