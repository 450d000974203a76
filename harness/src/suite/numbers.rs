//! The allowed range of every number in a suite file. Each is checked at load, so no value
//! that would panic (a timeout of `inf`), overflow, or allocate without bound reaches the
//! run; the ranges are listed in `suites/README.md`.

use super::SuiteError;
use super::error::SourceText;
use super::file::SuiteFile;
use super::keys::{Step, value_span};

/// One day (s): the longest wait, pause or timeout a suite may ask for.
pub const MAX_SECONDS: f64 = 86_400.0;
/// The most repetitions per configuration.
pub const MAX_REPETITIONS: u32 = 10_000;
/// The most (repetition, configuration) visits one plan may hold.
pub const MAX_VISITS: u64 = 1_000_000;
/// The most requests per repetition, warm-ups per configuration, or tokens per request.
pub const MAX_COUNT: u32 = 1_000_000;
/// The most requests in flight at once.
pub const MAX_CONCURRENCY: u32 = 4_096;

/// The range a number must lie in, and the words that name it.
#[derive(Clone, Copy, Debug)]
struct Allowed {
    /// Lowest value.
    min: f64,
    /// Whether `min` itself is refused (`> min` rather than `>= min`).
    above: bool,
    /// Highest value allowed, if any.
    max: Option<f64>,
    /// Whether only whole numbers are meant (said so in the message).
    integer: bool,
    /// The unit, e.g. "seconds" (empty for none).
    unit: &'static str,
}

impl Allowed {
    const fn real(min: f64, above: bool, max: Option<f64>, unit: &'static str) -> Self {
        Self {
            min,
            above,
            max,
            integer: false,
            unit,
        }
    }

    const fn count(min: u32, max: Option<u32>) -> Self {
        Self {
            min: min as f64,
            above: false,
            max: match max {
                Some(m) => Some(m as f64),
                None => None,
            },
            integer: true,
            unit: "",
        }
    }

    fn contains(&self, v: f64) -> bool {
        v.is_finite()
            && (if self.above {
                v > self.min
            } else {
                v >= self.min
            })
            && self.max.is_none_or(|m| v <= m)
    }

    /// E.g. "a finite number of seconds above 0 and at most 86400".
    fn describe(&self) -> String {
        let kind = match (self.integer, self.unit) {
            (true, _) => "an integer".to_string(),
            (false, "") => "a finite number".to_string(),
            (false, unit) => format!("a finite number of {unit}"),
        };
        let low = if self.above { "above" } else { "at least" };
        match self.max {
            Some(max) => format!("{kind} {low} {} and at most {max}", self.min),
            None => format!("{kind} {low} {}", self.min),
        }
    }
}

/// One number of the suite: where it is, its dotted key, its value and its range.
struct Number<'a> {
    path: Vec<Step<'a>>,
    key: String,
    value: f64,
    allowed: Allowed,
    /// Why the range is what it is, or what to do instead (may be empty).
    hint: &'static str,
}

const SECONDS_AT_LEAST_0: Allowed = Allowed::real(0.0, false, Some(MAX_SECONDS), "seconds");
const SECONDS_ABOVE_0: Allowed = Allowed::real(0.0, true, Some(MAX_SECONDS), "seconds");
const TOKENS: Allowed = Allowed::count(1, Some(MAX_COUNT));

/// Checks every number of the suite file against its range; the first out of range is
/// an error naming its key, where it is written, the range and the value found.
pub(super) fn check_numbers(src: SourceText<'_>, spec: &SuiteFile) -> Result<(), SuiteError> {
    for n in numbers(spec) {
        if !n.allowed.contains(n.value) {
            return Err(out_of_range(src, &n));
        }
    }
    Ok(())
}

/// Refuses a plan of more than [`MAX_VISITS`] visits (repetitions × configurations)
/// before it is built.
pub(super) fn check_plan_size(
    src: SourceText<'_>,
    spec: &SuiteFile,
    configurations: usize,
) -> Result<(), SuiteError> {
    let repetitions = spec.schedule.repetitions;
    let visits = u64::from(repetitions).saturating_mul(configurations as u64);
    if visits <= MAX_VISITS {
        return Ok(());
    }
    let span = value_span(src.text, &[Step::Key("schedule"), Step::Key("repetitions")]);
    Err(src.error_at(
        span.unwrap_or(0..0),
        Some("schedule.repetitions"),
        format!(
            "{repetitions} repetitions × {configurations} configurations is {visits} visits; \
             expected at most {MAX_VISITS}: lower `repetitions` or measure fewer models × datasets per suite"
        ),
    ))
}

fn out_of_range(src: SourceText<'_>, n: &Number<'_>) -> SuiteError {
    let span = value_span(src.text, &n.path);
    let found = match &span {
        Some(s) => src.text[s.clone()].to_string(),
        None => format!("{:?}", n.value),
    };
    let hint = if n.hint.is_empty() {
        String::new()
    } else {
        format!(" ({})", n.hint)
    };
    src.error_at(
        span.unwrap_or(0..0),
        Some(&n.key),
        format!(
            "expected {}, found {found}{hint}: write a value in that range (see suites/README.md)",
            n.allowed.describe()
        ),
    )
}

/// Every number of the suite file, with its path, key and range.
fn numbers<'a>(spec: &'a SuiteFile) -> Vec<Number<'a>> {
    let mut out: Vec<Number<'a>> = Vec::new();
    let mut push = |path: Vec<Step<'a>>, value: f64, allowed: Allowed, hint: &'static str| {
        let key = path
            .iter()
            .filter_map(|s| match s {
                Step::Key(k) => Some(*k),
                Step::Index(_) => None,
            })
            .collect::<Vec<_>>()
            .join(".");
        out.push(Number {
            path,
            key,
            value,
            allowed,
            hint,
        });
    };
    let s = &spec.schedule;
    let schedule = |key| vec![Step::Key("schedule"), Step::Key(key)];
    push(
        schedule("inferences"),
        s.inferences.into(),
        Allowed::count(1, Some(MAX_COUNT)),
        "",
    );
    push(
        schedule("repetitions"),
        s.repetitions.into(),
        Allowed::count(1, Some(MAX_REPETITIONS)),
        "",
    );
    push(
        schedule("warmup"),
        s.warmup.into(),
        Allowed::count(0, Some(MAX_COUNT)),
        "",
    );
    push(
        schedule("concurrency"),
        s.concurrency.into(),
        Allowed::count(1, Some(MAX_CONCURRENCY)),
        "",
    );
    push(
        schedule("idle_seconds"),
        s.idle_seconds,
        SECONDS_AT_LEAST_0,
        "0 turns net energy off; the longest is a day",
    );
    push(
        schedule("cooldown_seconds"),
        s.cooldown_seconds,
        SECONDS_AT_LEAST_0,
        "the longest is a day",
    );
    push(
        schedule("request_timeout_seconds"),
        s.request_timeout_seconds,
        SECONDS_ABOVE_0,
        "the longest is a day",
    );
    push(
        schedule("max_failure_share"),
        s.max_failure_share,
        Allowed::real(0.0, false, Some(1.0), ""),
        "a share of the requests",
    );
    let p = &spec.probes;
    let probes = |key| vec![Step::Key("probes"), Step::Key(key)];
    push(
        probes("sample_hz"),
        p.sample_hz,
        Allowed::real(0.0, true, Some(1000.0), "Hz"),
        "",
    );
    if let Some(w) = p.cpu_tdp_w {
        push(
            probes("cpu_tdp_w"),
            w,
            Allowed::real(0.0, true, Some(5000.0), "watts"),
            "the CPU package's thermal design power; leave it out to look it up",
        );
    }
    if let Some(w) = p.dram_w_per_gb {
        push(
            probes("dram_w_per_gb"),
            w,
            Allowed::real(0.0, true, Some(10.0), "watts per GB"),
            "typical DDR4/DDR5 is about 0.375; leave it out for that default",
        );
    }
    let c = &spec.carbon;
    let carbon = |key| vec![Step::Key("carbon"), Step::Key(key)];
    if let Some(i) = c.intensity_g_per_kwh {
        push(
            carbon("intensity_g_per_kwh"),
            i,
            Allowed::real(0.0, false, Some(5000.0), "gCO2eq/kWh"),
            "grids range from about 10 to 1100",
        );
    }
    push(
        carbon("pue"),
        c.pue,
        Allowed::real(1.0, false, Some(10.0), ""),
        "1.0 counts the machine alone; data centres report about 1.1 to 2",
    );
    for (key, server) in &spec.servers {
        push(
            vec![
                Step::Key("servers"),
                Step::Key(key),
                Step::Key("ready_timeout_seconds"),
            ],
            server.ready_timeout_seconds,
            SECONDS_ABOVE_0,
            "the longest is a day",
        );
    }
    let g = &spec.generation;
    let generation = |key| vec![Step::Key("generation"), Step::Key(key)];
    push(generation("max_tokens"), g.max_tokens.into(), TOKENS, "");
    push(
        generation("temperature"),
        g.temperature,
        Allowed::real(0.0, false, Some(100.0), ""),
        "0 is greedy",
    );
    for (name, task) in &spec.tasks {
        if let Some(t) = task.max_tokens {
            push(
                vec![Step::Key("tasks"), Step::Key(name), Step::Key("max_tokens")],
                t.into(),
                TOKENS,
                "",
            );
        }
    }
    for (i, d) in spec.datasets.iter().enumerate() {
        if let Some(limit) = d.limit {
            push(
                vec![Step::Key("datasets"), Step::Index(i), Step::Key("limit")],
                limit as f64,
                Allowed::count(1, None),
                "leave it out to use every row",
            );
        }
    }
    for (i, m) in spec.models.iter().enumerate() {
        if let Some(count) = m.parameters {
            push(
                vec![Step::Key("models"), Step::Index(i), Step::Key("parameters")],
                count as f64,
                Allowed::count(1, None),
                "the model's parameter count, for size plots; leave it out when unknown",
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A suite of one model on `datasets` datasets (one file) with `schedule` lines.
    fn suite_text(datasets: usize, schedule: &str) -> String {
        let mut text = String::from(
            "[suite]\nname = \"n\"\n[servers.s]\nprotocol = \"tei-predict\"\nurl = \"http://127.0.0.1:9\"\n\
             [[models]]\nname = \"m\"\ntask = \"t\"\nclass = \"task-specific\"\nserver = \"s\"\n",
        );
        for i in 0..datasets {
            text += &format!("[[datasets]]\nname = \"d{i}\"\ntask = \"t\"\npath = \"d.jsonl\"\n");
        }
        text + "[schedule]\n" + schedule + "\n"
    }

    fn load(text: &str) -> Result<crate::suite::Suite, SuiteError> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("d.jsonl"), "{\"text\": \"a\"}\n").expect("data");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).expect("suite");
        crate::suite::load(&path)
    }

    #[test]
    fn a_plan_of_more_visits_than_the_bound_is_refused_at_repetitions() {
        let err = load(&suite_text(101, "repetitions = 10000"))
            .expect_err("1,010,000 visits")
            .to_string();
        assert!(err.contains("key `schedule.repetitions`"), "{err}");
        assert!(
            err.contains("10000 repetitions × 101 configurations is 1010000 visits")
                && err.contains("at most 1000000"),
            "{err}"
        );
        let suite = load(&suite_text(100, "repetitions = 10000")).expect("1,000,000 visits");
        assert_eq!(suite.plan.rounds.len(), 10_000);
    }

    #[test]
    fn ranges_refuse_non_finite_values_and_read_as_words() {
        assert!(SECONDS_ABOVE_0.contains(MAX_SECONDS));
        for v in [0.0, -1.0, f64::INFINITY, f64::NAN, MAX_SECONDS + 1.0] {
            assert!(!SECONDS_ABOVE_0.contains(v), "{v}");
        }
        assert!(SECONDS_AT_LEAST_0.contains(0.0));
        assert!(!Allowed::count(1, None).contains(f64::INFINITY));
        assert_eq!(
            SECONDS_ABOVE_0.describe(),
            "a finite number of seconds above 0 and at most 86400"
        );
        assert_eq!(Allowed::count(1, None).describe(), "an integer at least 1");
    }
}
