//! `joulebench serve`: the embedded reference model server.

use anyhow::Context;
use reference::{LoadOptions, ModelSpec, RunningServer, Task};
use std::process::ExitCode;
use std::time::Duration;

/// How long requests in flight may take to finish after SIGTERM or Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Arguments of `joulebench serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Serve a sequence classifier: `[NAME=]PRESET` (tiny, mini, small, distilbert, base) or
    /// `[NAME=]FOLDER` (config.json, *.safetensors, tokenizer.json). Repeatable.
    #[arg(long, value_name = "[NAME=]PRESET|FOLDER")]
    pub classifier: Vec<String>,
    /// Serve an extractive question-answering encoder (same forms as --classifier).
    #[arg(long, value_name = "[NAME=]PRESET|FOLDER")]
    pub qa: Vec<String>,
    /// Serve a generator: GPT-2 presets tiny, small (distilgpt2), base (gpt2), medium, large;
    /// BLOOM presets bloom-tiny, bloom-560m, bloom-1b1, bloom-1b7; T5 presets t5-tiny,
    /// flan-t5-small, flan-t5-base, flan-t5-large; Llama-layout presets llama-test,
    /// smollm2-135m, qwen2.5-0.5b, llama-3.2-1b, tinyllama-1.1b; a gpt2/bloom/t5/llama folder;
    /// or a Llama-layout FILE.gguf. GPT-2, BLOOM and Llama presets and folders take `:FORMAT`
    /// to store the blocks' linear layers quantized at launch (Llama: embeddings and LM head
    /// too): f32 (default), q8_0, q4_0, q4_k, ternary (BitNet b1.58, blocks only) (e.g.
    /// `--generator small=smollm2-135m:q4_0`). Mixtral-layout presets: moe-test,
    /// smollm2-moe-8x2 (8 experts, 2 per token) and their dense comparisons `…-dense-active`
    /// (equal active parameters) and `…-dense-total` (equal total). Techniques at launch
    /// follow: `+prune=N|P%|F` removes the contiguous blocks of least angular distance on the
    /// calibration prompts (Llama, GPT-2, BLOOM); `+mod[=CAPACITY]` gives a Llama preset
    /// Mixture-of-Depths routers on every second block (capacity 0.125 by default), e.g.
    /// `--generator half=smollm2-135m:q8_0+prune=50%`.
    #[arg(
        long,
        value_name = "[NAME=]PRESET[:FORMAT][+prune=N][+mod[=C]]|FOLDER[:FORMAT]|FILE.gguf"
    )]
    pub generator: Vec<String>,
    /// Calibration prompts for `+prune` and `+mod`, one per line (default: the bundled
    /// sentiment, QA and summarization samples).
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<std::path::PathBuf>,
    /// After loading, write generator NAME's weights as served to a GGUF file at PATH
    /// (llama.cpp tensor names and `llama.*` metadata; Llama layout only). Repeatable.
    #[arg(long, value_name = "NAME=PATH")]
    pub write_gguf: Vec<String>,
    /// Requests computed at the same time; others wait in line.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Batch requests: encoder requests (classification, QA, embeddings over TEI routes) run
    /// up to this many in one padded forward pass; GPT-2 and BLOOM generators hold up to this
    /// many sequences in flight and run their decode steps as one batched forward pass
    /// (continuous batching; T5 runs alone). 1 (the default) runs each request alone.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_batch: u32,
    /// With --max-batch above 1: the longest a request waits for others to join its batch
    /// (milliseconds); for generators, only when nothing is in flight (a request arriving
    /// while sequences decode joins at the next step).
    #[arg(long, default_value_t = 5, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub batch_wait_ms: u64,
    /// Seed of the parameters of preset models.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Refuse inputs longer than this many tokens (the model's own limit applies anyway).
    #[arg(long)]
    pub max_input_tokens: Option<usize>,
    /// Labels of preset classifiers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "NEGATIVE,POSITIVE")]
    pub labels: Vec<String>,
}

impl ServeArgs {
    /// The models to serve; the tiny presets of every task when none is named.
    fn specs(&self) -> anyhow::Result<Vec<ModelSpec>> {
        let mut specs = Vec::new();
        for (task, values) in [
            (Task::Classification, &self.classifier),
            (Task::QuestionAnswering, &self.qa),
            (Task::Generation, &self.generator),
        ] {
            for v in values {
                specs.push(ModelSpec::parse(task, v)?);
            }
        }
        if specs.is_empty() {
            specs = vec![
                ModelSpec::parse(Task::Classification, "tiny")?,
                ModelSpec::parse(Task::QuestionAnswering, "tiny")?,
                ModelSpec::parse(Task::Generation, "tiny")?,
            ];
        }
        Ok(specs)
    }
}

/// Resolves when SIGTERM or Ctrl-C arrives.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Human-readable parameter count (`4.4M`, `124.4M`).
fn millions(n: usize) -> String {
    format!("{:.1}M", n as f64 / 1e6)
}

/// Runs `joulebench serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // SAFETY: first, while the process has one thread (nothing before `dispatch` starts
    // one), and before candle's first operation reads it.
    unsafe { reference::cpu_pool::sleep_idle_workers() };
    let specs = args.specs()?;
    let mut gguf_out = Vec::new();
    for v in &args.write_gguf {
        let Some((name, path)) = v
            .split_once('=')
            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        else {
            anyhow::bail!("--write-gguf `{v}`: expected NAME=PATH");
        };
        if !specs.iter().any(|s| s.name == name) {
            anyhow::bail!("--write-gguf `{v}`: no model is named `{name}`");
        }
        gguf_out.push((name.to_string(), std::path::PathBuf::from(path)));
    }
    if args.calibration.is_some()
        && !specs
            .iter()
            .any(|s| s.techniques.prune.is_some() || s.techniques.depths.is_some())
    {
        anyhow::bail!(
            "--calibration is read by +prune and +mod only, and no --generator has either: add one or leave --calibration out"
        );
    }
    let options = LoadOptions {
        seed: args.seed,
        max_input_tokens: args.max_input_tokens,
        labels: args.labels.clone(),
        calibration: args.calibration.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let addr = format!("{}:{}", args.host, args.port);
        let server = RunningServer::bind(&addr, args.concurrency as usize).await?;
        if args.max_batch > 1 {
            server.batch(reference::batch::BatchSettings {
                max_batch: args.max_batch as usize,
                wait: std::time::Duration::from_millis(args.batch_wait_ms),
            })?;
        }
        eprintln!(
            "joulebench serve: listening on http://{} (loading {} model(s); /health is 503 until ready)",
            server.addr(),
            specs.len()
        );
        let signal = shutdown_signal();
        tokio::pin!(signal);
        let registry = tokio::select! {
            r = server.load(&specs, &options) => r?,
            _ = &mut signal => {
                eprintln!("joulebench serve: stopped while loading");
                server.stop(SHUTDOWN_GRACE).await?;
                return Ok(ExitCode::SUCCESS);
            }
        };
        for m in registry.models() {
            eprintln!(
                "  model `{}`: {} ({}), {} parameters, weights {} ({:.1} MB, {:.2} bits/weight), max {} tokens, from {}; tokenizer: {}",
                m.name,
                m.task.as_str(),
                m.architecture,
                millions(m.parameters),
                m.weights.format,
                m.weights.bytes as f64 / 1e6,
                m.weights.bits_per_weight,
                m.max_input_tokens,
                m.source,
                m.tokenizer.describe()
            );
        }
        for (name, path) in &gguf_out {
            let Some(m) = registry.get(name) else {
                anyhow::bail!("--write-gguf: no model is named `{name}`");
            };
            let reference::registry::Network::Generator(g) = &m.network else {
                anyhow::bail!("--write-gguf: `{name}` is not a generator");
            };
            g.write_gguf(path)
                .with_context(|| format!("cannot write `{name}` to {}", path.display()))?;
            eprintln!("  model `{name}` written to {}", path.display());
        }
        let batching = if args.max_batch > 1 {
            format!(
                "; encoder batches and generator decode batches of up to {} within {} ms",
                args.max_batch, args.batch_wait_ms
            )
        } else {
            String::new()
        };
        eprintln!(
            "joulebench serve: ready on http://{} (concurrency {}{batching})",
            server.addr(),
            args.concurrency
        );
        signal.await;
        eprintln!("joulebench serve: shutting down");
        server.stop(SHUTDOWN_GRACE).await?;
        Ok(ExitCode::SUCCESS)
    })
}
