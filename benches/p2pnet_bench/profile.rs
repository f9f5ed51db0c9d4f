//! Where a figure's time goes, from `/proc`: CPU time, context switches and page
//! faults per thread, so the engines' worker and dispatcher threads can be told apart.

use std::collections::{BTreeMap, HashSet};

use crate::json::Json;

/// Thread ids of this process.
pub fn thread_ids() -> HashSet<u32> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Clone, Copy, Default)]
struct ThreadUsage {
    cpu_ns: u64,
    context_switches: u64,
    minor_faults: u64,
}

fn thread_usage(tid: u32) -> Option<(String, ThreadUsage)> {
    let base = format!("/proc/self/task/{tid}");
    let name = std::fs::read_to_string(format!("{base}/comm")).ok()?;
    let stat = std::fs::read_to_string(format!("{base}/stat")).ok()?;
    // Fields after the parenthesised name start at field 3 (state); minflt is field 10.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let minor_faults: u64 = fields.get(7)?.parse().ok()?;
    // Time on CPU in nanoseconds, far finer than the clock ticks of `stat`.
    let schedstat = std::fs::read_to_string(format!("{base}/schedstat")).ok()?;
    let cpu_ns: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
    let status = std::fs::read_to_string(format!("{base}/status")).ok()?;
    let switches: u64 = status
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Some((
        name.trim().to_string(),
        ThreadUsage {
            cpu_ns,
            context_switches: switches,
            minor_faults,
        },
    ))
}

/// Threads labelled by the engine they belong to, e.g. "A" and "B".
pub struct Labels(Vec<(String, HashSet<u32>)>);

impl Labels {
    pub fn new() -> Self {
        Labels(Vec::new())
    }

    pub fn add(&mut self, label: &str, tids: HashSet<u32>) {
        self.0.push((label.to_string(), tids));
    }

    fn label(&self, tid: u32) -> &str {
        self.0
            .iter()
            .find(|(_, tids)| tids.contains(&tid))
            .map_or("other", |(label, _)| label.as_str())
    }
}

/// Usage counters at one moment.
pub struct Sample {
    threads: BTreeMap<u32, (String, ThreadUsage)>,
}

pub fn sample() -> Sample {
    Sample {
        threads: thread_ids()
            .into_iter()
            .filter_map(|tid| Some((tid, thread_usage(tid)?)))
            .collect(),
    }
}

/// One group of threads' usage per unit.
pub struct GroupUsage {
    /// Engine label and thread name, e.g. "B p2pnet-dispatch".
    pub threads: String,
    pub cpu_us: f64,
    pub context_switches: f64,
    pub minor_faults: f64,
}

/// Usage between two samples, divided over `units` (e.g. transactions).
pub struct PerUnit {
    pub groups: Vec<GroupUsage>,
}

pub fn per_unit(before: &Sample, after: &Sample, labels: &Labels, units: usize) -> PerUnit {
    let mut groups: BTreeMap<String, ThreadUsage> = BTreeMap::new();
    for (tid, (name, usage)) in &after.threads {
        let start = before.threads.get(tid).map(|(_, u)| *u).unwrap_or_default();
        let group = groups
            .entry(format!("{} {}", labels.label(*tid), name))
            .or_default();
        group.cpu_ns += usage.cpu_ns.saturating_sub(start.cpu_ns);
        group.context_switches += usage
            .context_switches
            .saturating_sub(start.context_switches);
        group.minor_faults += usage.minor_faults.saturating_sub(start.minor_faults);
    }
    let n = units.max(1) as f64;
    PerUnit {
        groups: groups
            .into_iter()
            .filter(|(_, u)| u.cpu_ns > 0 || u.context_switches > 0 || u.minor_faults > 0)
            .map(|(threads, u)| GroupUsage {
                threads,
                cpu_us: u.cpu_ns as f64 / 1e3 / n,
                context_switches: u.context_switches as f64 / n,
                minor_faults: u.minor_faults as f64 / n,
            })
            .collect(),
    }
}

impl PerUnit {
    pub fn print(&self, unit: &str) {
        println!(
            "   per {unit}: {:<24}  {:>8}  {:>9}  {:>11}",
            "threads", "CPU µs", "switches", "page faults"
        );
        for g in &self.groups {
            println!(
                "   {:width$}  {:<24}  {:>8.2}  {:>9.2}  {:>11.2}",
                "",
                g.threads,
                g.cpu_us,
                g.context_switches,
                g.minor_faults,
                width = unit.len() + 5
            );
        }
    }

    pub fn to_json(&self) -> Json {
        Json::Arr(
            self.groups
                .iter()
                .map(|g| {
                    Json::object([
                        ("threads", Json::str(g.threads.clone())),
                        ("cpu_us", Json::Num(g.cpu_us)),
                        ("context_switches", Json::Num(g.context_switches)),
                        ("minor_page_faults", Json::Num(g.minor_faults)),
                    ])
                })
                .collect(),
        )
    }
}
