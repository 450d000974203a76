//! Seeded mutation fuzzing of every reader of user-influenced files: the suite loader, the
//! dataset readers (JSONL, CSV, Parquet), the records readers (`requests.csv`,
//! `repetitions.csv`, `baselines.csv`, `samples.csv`, `window_state.csv`, `attribution.csv`,
//! `run.json`) and the run reader of
//! `joulebench compare`. Valid seeds are mutated (byte flips, deletions, duplications,
//! interesting tokens) and fed in-process under `catch_unwind`: no input may panic, and
//! every error names the file it is about.

use crate::common;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

/// The seed of the mutations (the test prints what it tried).
const SEED: u64 = 0x6675_7a7a;

/// Tokens that break parsers: non-finite and out-of-range numbers, empty and huge strings,
/// invalid UTF-8, a BOM, NUL, deep nesting, unclosed quotes, stray separators.
fn tokens() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = [
        "NaN",
        "nan",
        "inf",
        "-inf",
        "-1",
        "-0",
        "0",
        "1e300",
        "-1e300",
        "1e-300",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "\"\"",
        "''",
        "\"",
        "'",
        "\"\"\"",
        "\n",
        "\r\n",
        "\r",
        ",",
        ",,,,",
        "=",
        "[",
        "]",
        "{",
        "}",
        "[]",
        "{}",
        "null",
        "true",
        "\\",
        "\\u0000",
        "\\ud800",
        "0x10",
        "1_000",
        "💥",
        "measured",
        "warmup",
        "complete",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    t.push(vec![0]);
    t.push(vec![0xff, 0xfe, 0x80]);
    t.push(vec![0xef, 0xbb, 0xbf]);
    t.push(b"A".repeat(70_000));
    t.push(b"[".repeat(3_000));
    t.push(b"{\"a\":".repeat(2_000));
    t.push(b"a = [".repeat(1_000));
    t
}

/// Where the next field of `data` from `at` ends (a separator of CSV, JSON or TOML).
fn field_end(data: &[u8], at: usize) -> usize {
    data[at..]
        .iter()
        .position(|b| b",\n\r\"=:{}[] ".contains(b))
        .map_or(data.len(), |p| at + p)
}

/// `seed` changed by 1 to 4 seeded mutations.
fn mutate(rng: &mut Pcg64Mcg, seed: &[u8], tokens: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = v.len();
        let at = if len == 0 {
            0
        } else {
            rng.random_range(0..len)
        };
        match rng.random_range(0..8) {
            // Flip a bit.
            0 if len > 0 => v[at] ^= 1 << rng.random_range(0..8),
            // Delete a span.
            1 if len > 0 => {
                let end = (at + rng.random_range(1..=32)).min(len);
                v.drain(at..end);
            }
            // Duplicate a span somewhere else.
            2 if len > 0 => {
                let end = (at + rng.random_range(1..=256)).min(len);
                let span = v[at..end].to_vec();
                let to = rng.random_range(0..=len);
                v.splice(to..to, span);
            }
            // Insert a token.
            3 => {
                let t = &tokens[rng.random_range(0..tokens.len())];
                v.splice(at..at, t.iter().copied());
            }
            // Truncate.
            4 => v.truncate(at),
            // Duplicate a whole line.
            5 if len > 0 => {
                let start = v[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                let end = v[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(len, |p| at + p + 1);
                let line = v[start..end].to_vec();
                v.splice(start..start, line);
            }
            // Replace a field with a token (the most telling mutation for values).
            _ => {
                let end = field_end(&v, at);
                let t = &tokens[rng.random_range(0..tokens.len())];
                v.splice(at..end, t.iter().copied());
            }
        }
    }
    v
}

/// What a target does with one input: write it where the reader looks, read, and say
/// the error's text (None when it read).
type Target<'a> = dyn FnMut(&[u8]) -> Option<String> + 'a;

/// Feeds `count` mutants of `seeds` to `target`; panics and errors that do not name
/// `names` are counted. Returns the inputs tried.
fn fuzz(
    name: &str,
    seeds: &[Vec<u8>],
    count: usize,
    names: &str,
    target: &mut Target<'_>,
    bad: &mut Vec<String>,
) -> usize {
    let mut rng = Pcg64Mcg::seed_from_u64(SEED ^ name.len() as u64 ^ u64::from(name.as_bytes()[0]));
    let tokens = tokens();
    let started = Instant::now();
    let (mut panics, mut errors) = (0, 0);
    // The seeds themselves first: they must read.
    for seed in seeds {
        if let Some(e) = target(seed) {
            bad.push(format!("{name}: the valid seed does not read: {e}"));
        }
    }
    for i in 0..count {
        let seed = &seeds[i % seeds.len()];
        let input = mutate(&mut rng, seed, &tokens);
        match catch_unwind(AssertUnwindSafe(|| target(&input))) {
            Err(_) => {
                panics += 1;
                bad.push(format!(
                    "{name}: panicked on input {i}: {:?}",
                    String::from_utf8_lossy(&input[..input.len().min(400)])
                ));
            }
            Ok(Some(e)) => {
                errors += 1;
                if e.trim().is_empty() || !e.contains(names) {
                    bad.push(format!(
                        "{name}: error without the file name {names:?}: {e:?}"
                    ));
                }
            }
            Ok(None) => {}
        }
    }
    eprintln!(
        "fuzz {name}: {count} inputs, {panics} panics, {errors} errors, {} read, {:.1} s",
        count - errors - panics,
        started.elapsed().as_secs_f64()
    );
    count
}

fn err_text<T, E: Display>(r: Result<T, E>) -> Option<String> {
    r.err().map(|e| e.to_string())
}

/// Writes `data` to a new file at `path` (a new inode: ext4 flushes a file truncated and
/// rewritten in place on close, which would make each input wait for the disk).
fn write(path: &Path, data: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A dataset spec for `path` mapping `text` onto `sentence`, shuffled.
fn dataset_spec(
    path: &Path,
    format: harness::suite::DatasetFormat,
) -> harness::suite::DatasetSource {
    harness::suite::DatasetSource {
        name: "d".into(),
        task: "sentiment".into(),
        path: path.to_path_buf(),
        format,
        fields: [("text".to_string(), "sentence".to_string())].into(),
        limit: Some(3),
        offset: 1,
        seed: Some(7),
        reference: None,
        expected: Some("label".into()),
        scorer: Some(records::scoring::Scorer::Accuracy {
            labels: Default::default(),
        }),
    }
}

/// A small Snappy Parquet file with `sentence` and `label` columns.
fn parquet_seed(path: &Path) -> Vec<u8> {
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;
    let schema = Arc::new(
        parse_message_type(
            "message schema { REQUIRED BYTE_ARRAY sentence (UTF8); REQUIRED INT64 label; }",
        )
        .expect("schema"),
    );
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let file = std::fs::File::create(path).expect("create");
    let mut writer = SerializedFileWriter::new(file, schema, props).expect("writer");
    let mut group = writer.next_row_group().expect("row group");
    let texts: Vec<ByteArray> = ["a fine film", "dull, \"long\"", "so-so", "great"]
        .iter()
        .map(|s| ByteArray::from(*s))
        .collect();
    let mut col = group.next_column().expect("column").expect("sentence");
    col.typed::<ByteArrayType>()
        .write_batch(&texts, None, None)
        .expect("write");
    col.close().expect("close");
    let labels: Vec<i64> = (0..4).map(|i| i % 2).collect();
    let mut col = group.next_column().expect("column").expect("label");
    col.typed::<Int64Type>()
        .write_batch(&labels, None, None)
        .expect("write");
    col.close().expect("close");
    group.close().expect("close group");
    writer.close().expect("close file");
    std::fs::read(path).expect("read parquet")
}

/// A small synthetic run folder: two configurations, 3 repetitions of 4 requests.
fn synthetic_run(dir: &Path) {
    let mut s = report::synthetic::Synthetic::small();
    s.configs.truncate(2);
    for c in &mut s.configs {
        c.request_ticks = 2;
    }
    s.repetitions = 3;
    s.requests = 4;
    s.baseline_ticks = 5;
    s.context_every_ticks = 0;
    s.write(dir).expect("synthetic run");
}

/// A reader of one records file: the first error's text.
type Reader = fn(&Path) -> Option<String>;

/// Every row of a records CSV, read as `T`; the first error's text.
fn read_all<T: serde::de::DeserializeOwned>(path: &Path) -> Option<String> {
    match records::table_io::read_csv::<T>(path) {
        Err(e) => Some(e.to_string()),
        Ok(rows) => rows.filter_map(Result::err).map(|e| e.to_string()).next(),
    }
}

/// Every row of a raw records CSV read as the report reads it (every figure checked); the
/// first error's text.
fn read_records_all<T: serde::de::DeserializeOwned + records::finite::Figures>(
    path: &Path,
) -> Option<String> {
    match records::table_io::read_records::<T>(path) {
        Err(e) => Some(e.to_string()),
        Ok(rows) => rows.filter_map(Result::err).map(|e| e.to_string()).next(),
    }
}

#[test]
fn mutated_inputs_never_panic_and_every_error_names_its_file() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bad = Vec::new();
    let mut tried = Vec::new();

    // The suite loader, on a valid suite and on the test suites' richer one.
    let suite_dir = dir.path().join("suite");
    std::fs::create_dir(&suite_dir).expect("mkdir");
    write(&suite_dir.join("data.jsonl"), b"{\"sentence\": \"a\"}\n");
    let suite_path = suite_dir.join("suite.toml");
    let rich = common::one_model_suite(
        "openai-completions",
        "http://127.0.0.1:9",
        "general-purpose",
        "inferences = 5\nrepetitions = 2\nwarmup = 1",
        "[generation]\ntemperature = 0.0\n",
    );
    let seeds = vec![common::GOOD_SUITE.as_bytes().to_vec(), rich.into_bytes()];
    let n = fuzz(
        "suite",
        &seeds,
        4_000,
        "suite.toml",
        &mut |data| {
            write(&suite_path, data);
            err_text(harness::suite::load(&suite_path))
        },
        &mut bad,
    );
    tried.push(("suite", n));

    // The dataset readers.
    use harness::dataset::Dataset;
    use harness::suite::DatasetFormat;
    let jsonl: Vec<u8> = (0..6)
        .map(|i| {
            format!(
                "{{\"sentence\": \"sentence {i}\", \"label\": {}, \"x\": [1, {{\"y\": null}}]}}\n",
                i % 2
            )
        })
        .collect::<String>()
        .into_bytes();
    let csv =
        b"sentence,label\n\"a, quoted\",1\nplain,0\n\"with \"\"quotes\"\"\",1\nfour,0\nfive,1\n"
            .to_vec();
    for (name, file, format, seed, count) in [
        ("jsonl", "data.jsonl", DatasetFormat::Jsonl, jsonl, 3_000),
        ("csv", "data.csv", DatasetFormat::Csv, csv, 3_000),
        (
            "parquet",
            "data.parquet",
            DatasetFormat::Parquet,
            parquet_seed(&dir.path().join("seed.parquet")),
            3_000,
        ),
    ] {
        let path = dir.path().join(file);
        let spec = dataset_spec(&path, format);
        let n = fuzz(
            name,
            &[seed],
            count,
            file,
            &mut |data| {
                write(&path, data);
                err_text(Dataset::load(&spec))
            },
            &mut bad,
        );
        tried.push((name, n));
    }

    // The records readers, on the files of a synthetic run.
    let run = dir.path().join("run");
    synthetic_run(&run);
    let seed_of = |name: &str| std::fs::read(run.join(name)).expect("synthetic file");
    use records::raw::{
        AttributionRecord, BaselineRecord, RepetitionRecord, RequestRecord, SampleRecord,
        WindowStateRecord,
    };
    // The synthetic run has no GPU and no /proc: these two are written as a run writes them.
    std::fs::write(
        run.join("window_state.csv"),
        "config,window,repetition,edge,t_ns,source,domain,key,value\n\
         a@d,repetition,1,start,100,nvml,gpu-0,temperature_c,45\n\
         a@d,repetition,1,end,900,nvml,gpu-0,throttle_reasons,gpu_idle+sw_power_cap\n\
         a@d,baseline,0,start,50,host,host,cpu_governor,\"unreadable: no cpufreq, as in VMs\"\n",
    )
    .expect("write window_state.csv");
    std::fs::write(
        run.join("attribution.csv"),
        "config,window,repetition,t_start_ns,t_end_ns,resource,unit,server,client,busy,total,server_scope,server_processes,error\n\
         a@d,repetition,1,100,900,cpu,cpu_s,0.63,0.01,0.68,0.78,process group 42 and descendants,3,\n\
         a@d,repetition,1,100,900,gpu-0,sm_pct_samples,60.0,,80.0,,pid 42 and descendants,1,\n",
    )
    .expect("write attribution.csv");
    let readers: [(&str, Reader, usize); 6] = [
        ("requests.csv", read_all::<RequestRecord>, 3_000),
        ("repetitions.csv", read_all::<RepetitionRecord>, 3_000),
        ("baselines.csv", read_all::<BaselineRecord>, 2_000),
        ("samples.csv", read_all::<SampleRecord>, 1_000),
        (
            "window_state.csv",
            read_records_all::<WindowStateRecord>,
            1_000,
        ),
        (
            "attribution.csv",
            read_records_all::<AttributionRecord>,
            1_000,
        ),
    ];
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).expect("mkdir");
    for (file, read, count) in readers {
        let path = scratch.join(file);
        let n = fuzz(
            file,
            &[seed_of(file)],
            count,
            file,
            &mut |data| {
                write(&path, data);
                read(&path)
            },
            &mut bad,
        );
        tried.push((file, n));
    }
    let manifest_dir = dir.path().join("manifest");
    std::fs::create_dir(&manifest_dir).expect("mkdir");
    let n = fuzz(
        "run.json",
        &[seed_of("run.json")],
        3_000,
        "run.json",
        &mut |data| {
            write(&manifest_dir.join("run.json"), data);
            err_text(records::manifest::RunManifest::load(&manifest_dir))
        },
        &mut bad,
    );
    tried.push(("run.json", n));

    // `joulebench compare`'s reader: a run folder with one of its files mutated.
    let candidate = dir.path().join("candidate");
    for (file, count) in [
        ("run.json", 600),
        ("repetitions.csv", 1_000),
        ("baselines.csv", 600),
    ] {
        let _ = std::fs::remove_dir_all(&candidate);
        synthetic_run(&candidate);
        let seed = std::fs::read(candidate.join(file)).expect("seed");
        let name = format!("compare {file}");
        let path = candidate.join(file);
        let n = fuzz(
            &name,
            &[seed],
            count,
            "candidate",
            &mut |data| {
                write(&path, data);
                err_text(report::compare::compare(
                    &run,
                    &candidate,
                    &report::compare::CompareOptions::default(),
                ))
            },
            &mut bad,
        );
        tried.push(("compare", n));
    }

    let total: usize = tried.iter().map(|(_, n)| n).sum();
    eprintln!(
        "fuzz: {total} inputs in {:.1} s, {} problems",
        started.elapsed().as_secs_f64(),
        bad.len()
    );
    assert!(
        bad.is_empty(),
        "{} problems:\n{}",
        bad.len(),
        bad[..bad.len().min(30)].join("\n")
    );
}
