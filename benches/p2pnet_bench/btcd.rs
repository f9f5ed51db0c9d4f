//! The same figures measured on btcd's `peer` package (Go), the library a node developer
//! would otherwise pick, so each figure can print btcd's number next to the engine's.
//!
//! The measuring program lives in `benches/btcd/` (its own Go module); `scripts/bench.sh`
//! builds it and passes its path in `P2PNET_BTCD_BENCH`. Each call here runs it as a
//! child process and reads the one JSON object it prints as its last stdout line. Its
//! stderr (progress) is shown only when a run fails.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::support::Target;

/// The largest block btcd sends or accepts: its wire package refuses a `block` message
/// over `wire.MaxBlockPayload` (4,000,000 bytes) on write and on read, so a 4 MiB or
/// 32 MiB block cannot be relayed at all.
pub const MAX_BLOCK_BYTES: usize = 4_000_000;

/// What a figure prints in place of btcd's number when the program is not there.
pub const NOT_BUILT: &str = "btcd: not built (run ./scripts/bench.sh)";

/// The target "ahead of btcd" for one figure: the engine's number against btcd's, where
/// `higher_is_better` says which way ahead is.
pub fn ahead(engine: f64, btcd: f64, higher_is_better: bool) -> Target {
    let ahead = if higher_is_better {
        engine > btcd
    } else {
        engine < btcd
    };
    Target::new(format!("ahead of btcd ({:.2}×)", engine / btcd), ahead)
}

/// Bounds one run of the program; its own waits end far sooner unless it is stuck.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// The comparison program, if `P2PNET_BTCD_BENCH` names an existing file.
pub fn binary() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("P2PNET_BTCD_BENCH")?);
    path.is_file().then_some(path)
}

/// Block relay A→B (inv → getdata → block), median of `reps` after one warm-up, over
/// a block of about `bytes` serialized bytes: the size actually relayed and MB/s
/// (1e6 bytes). Over `MAX_BLOCK_BYTES` btcd refuses the block and this is `None`.
pub fn block_mb_s(bytes: usize, reps: usize) -> Option<(usize, f64)> {
    let size = bytes.to_string();
    let reps = reps.to_string();
    let report = run(&["block", "--size", &size, "--reps", &reps])?;
    Some((report.num("bytes")? as usize, report.num("median_mb_s")?))
}

/// Transaction relay: `count` unique txs of `size` bytes announced at once, first
/// announcement to last delivery, in tx/s. `None` unless every tx arrived.
pub fn tx_per_s(count: usize, size: usize) -> Option<f64> {
    let (count_arg, size_arg) = (count.to_string(), size.to_string());
    let report = run(&["tx", "--count", &count_arg, "--size", &size_arg])?;
    if report.num("delivered")? as usize != count {
        eprintln!("btcd tx: not every transaction was delivered");
        return None;
    }
    report.num("tx_s")
}

/// One-hop latency of one tx (inv → getdata → tx), sequential: p50 and p99 in µs over
/// `samples`, pooled from four fresh pairs as the engine's figure is, each after
/// `warmup` unmeasured ones.
pub fn latency_us(samples: usize, warmup: usize) -> Option<(f64, f64)> {
    let (samples, warmup) = (samples.to_string(), warmup.to_string());
    let report = run(&["latency", "--samples", &samples, "--warmup", &warmup])?;
    Some((report.num("p50_us")?, report.num("p99_us")?))
}

/// RSS per idle, handshaken inbound peer in KiB with `peers` held, measured like the
/// engine's: a holder process that owns the peers and a separate client swarm.
pub fn idle_peer_kib(peers: usize) -> Option<f64> {
    let report = run(&["scale", "--peers", &peers.to_string()])?;
    if report.num("handshaken")? as usize != peers {
        eprintln!("btcd scale: not every peer finished its handshake");
        return None;
    }
    report.num("rss_kib_per_peer")
}

/// Runs the program with `args` once per bench run (figures measured over both
/// transports compare with the same btcd run) and parses its last stdout line; `None`
/// (with the reason on stderr) if it is not built, fails, or prints no report.
fn run(args: &[&str]) -> Option<Report> {
    static RUNS: Mutex<Vec<(String, Option<Report>)>> = Mutex::new(Vec::new());
    let key = args.join(" ");
    if let Some((_, report)) = RUNS.lock().iter().find(|(k, _)| *k == key) {
        return report.clone();
    }
    let report = run_once(args);
    RUNS.lock().push((key, report.clone()));
    report
}

fn run_once(args: &[&str]) -> Option<Report> {
    let binary = binary()?;
    let what = format!("btcd {}", args.first().copied().unwrap_or_default());
    let child = Command::new(&binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{what}: cannot run {}: {e}", binary.display());
            return None;
        }
    };
    let (status, stdout, stderr) = wait_bounded(&mut child, RUN_LIMIT);
    let report = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(Report::parse);
    match (status, report) {
        (Some(true), Some(Ok(report))) => Some(report),
        (status, report) => {
            let reason = match (&status, &report) {
                (None, _) => format!("killed after {} s", RUN_LIMIT.as_secs()),
                (_, Some(Ok(r))) => r.str("error").unwrap_or("failed").to_string(),
                (_, Some(Err(e))) => format!("unreadable report ({e})"),
                (_, None) => "no report".to_string(),
            };
            eprintln!("{what} {}: {reason}", args[1..].join(" "));
            for line in stderr
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .iter()
                .rev()
            {
                eprintln!("  | {line}");
            }
            None
        }
    }
}

/// Waits for `child` at most `limit`, killing it then; returns whether it succeeded
/// (`None` if killed) and what it printed. Both pipes are drained on their own
/// threads so a chatty child cannot block on a full pipe.
fn wait_bounded(child: &mut Child, limit: Duration) -> (Option<bool>, String, String) {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status.success()),
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let text = |reader: std::thread::JoinHandle<String>| reader.join().unwrap_or_default();
    (status, text(stdout), text(stderr))
}

/// A value in the program's flat JSON objects.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Num(f64),
    Str(String),
    Bool(bool),
    Null,
    Nums(Vec<f64>),
}

/// One flat JSON object: its fields in order.
#[derive(Debug, Clone)]
struct Report(Vec<(String, Value)>);

impl Report {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn num(&self, key: &str) -> Option<f64> {
        match self.get(key) {
            Some(Value::Num(n)) => Some(*n),
            _ => None,
        }
    }

    fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Parses an object whose values are numbers, strings, booleans, null or arrays
    /// of numbers: all the program prints.
    fn parse(text: &str) -> Result<Report, String> {
        let mut p = Parser {
            chars: text.trim().chars().peekable(),
        };
        p.expect('{')?;
        let mut fields = Vec::new();
        if !p.eat('}') {
            loop {
                let key = p.string()?;
                p.expect(':')?;
                fields.push((key, p.value()?));
                if p.eat('}') {
                    break;
                }
                p.expect(',')?;
            }
        }
        match p.chars.next() {
            None => Ok(Report(fields)),
            Some(c) => Err(format!("{c:?} after the object")),
        }
    }
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        self.chars.next_if_eq(&c).is_some()
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {c:?}"))
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_space();
        match self.chars.peek() {
            Some('"') => self.string().map(Value::Str),
            Some('[') => {
                self.chars.next();
                let mut items = Vec::new();
                if !self.eat(']') {
                    loop {
                        items.push(self.number()?);
                        if self.eat(']') {
                            break;
                        }
                        self.expect(',')?;
                    }
                }
                Ok(Value::Nums(items))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let word: String =
                    std::iter::from_fn(|| self.chars.next_if(char::is_ascii_alphabetic)).collect();
                match word.as_str() {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "null" => Ok(Value::Null),
                    _ => Err(format!("unexpected {word:?}")),
                }
            }
            _ => self.number().map(Value::Num),
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        self.skip_space();
        let text: String = std::iter::from_fn(|| {
            self.chars
                .next_if(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        })
        .collect();
        text.parse().map_err(|_| format!("bad number {text:?}"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            match self.chars.next().ok_or("unterminated string")? {
                '"' => return Ok(out),
                '\\' => match self.chars.next().ok_or("unterminated escape")? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        // Go escapes <, > and & this way; a surrogate pair comes as two.
                        let mut unit = self.hex4()?;
                        if (0xd800..0xdc00).contains(&unit)
                            && self.chars.next_if_eq(&'\\').is_some()
                        {
                            self.expect('u')?;
                            let low = self.hex4()?;
                            unit = 0x10000
                                + ((unit - 0xd800) << 10)
                                + (low.wrapping_sub(0xdc00) & 0x3ff);
                        }
                        out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                    }
                    c => out.push(c), // \" \\ \/
                },
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits: String = (0..4).filter_map(|_| self.chars.next()).collect();
        u32::from_str_radix(&digits, 16).map_err(|_| format!("bad escape \\u{digits}"))
    }
}
