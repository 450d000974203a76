//! Writes a synthetic run folder: `synth_run DIR [SAMPLES]` (SAMPLES ≈ rows of samples.csv).

use joulebench_report as report;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: synth_run DIR [SAMPLES]")?;
    let mut run = report::synthetic::Synthetic::small();
    if let Some(n) = args.next() {
        let target: u64 = n.parse()?;
        run.requests = 1000;
        run.repetitions = 10;
        let per_tick_pair = run.sample_count().max(1);
        let scale = (target as f64 / per_tick_pair as f64).max(1.0 / 64.0);
        for c in &mut run.configs {
            c.request_ticks = ((c.request_ticks as f64 * scale).round() as u64).max(1);
        }
    }
    run.write(std::path::Path::new(&dir))?;
    println!("{} samples", run.sample_count());
    Ok(())
}
