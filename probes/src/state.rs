//! The state a measurement depends on (clocks, temperature, limits, governors), read at
//! the edges of each energy window so drift and changes between windows can be shown.

use crate::sysfs::{read_trimmed, read_u64};
use std::path::Path;

/// One state value of one domain (or of the host), as read.
#[derive(Clone, Debug, PartialEq)]
pub struct StateValue {
    /// Domain name (`gpu-0`, or `host` for the CPU frequency settings).
    pub domain: String,
    /// What was read, its unit ending the name where it has one (e.g. `temperature_c`).
    pub key: &'static str,
    /// The value as text: a number, `on`/`off`, names, or `unreadable: <why>`.
    pub value: String,
}

/// NVML's clock-throttle reasons (`nvmlClocksThrottleReason*`), bit and name.
const THROTTLE_REASONS: [(u64, &str); 9] = [
    (1, "gpu_idle"),
    (2, "applications_clocks_setting"),
    (4, "sw_power_cap"),
    (8, "hw_slowdown"),
    (16, "sync_boost"),
    (32, "sw_thermal_slowdown"),
    (64, "hw_thermal_slowdown"),
    (128, "hw_power_brake_slowdown"),
    (256, "display_clock_setting"),
];

/// Names NVML's throttle-reason bits, `+`-joined; `none` for 0, unknown bits in hex.
pub fn throttle_names(bits: u64) -> String {
    if bits == 0 {
        return "none".into();
    }
    let mut names: Vec<String> = THROTTLE_REASONS
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| (*name).to_string())
        .collect();
    let known: u64 = THROTTLE_REASONS.iter().map(|(b, _)| b).sum();
    if bits & !known != 0 {
        names.push(format!("0x{:x}", bits & !known));
    }
    names.join("+")
}

/// The CPU frequency governor(s) and boost state, from `<cpu_root>/cpufreq`
/// (`/sys/devices/system/cpu` on Linux); an unreadable value says why.
pub fn cpu_state(cpu_root: &Path) -> Vec<StateValue> {
    let cpufreq = cpu_root.join("cpufreq");
    let mut governors = std::collections::BTreeSet::new();
    let mut freqs_khz = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&cpufreq) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().starts_with("policy") {
                continue;
            }
            if let Ok(g) = read_trimmed(&entry.path().join("scaling_governor")) {
                governors.insert(g);
            }
            if let Ok(khz) = read_u64(&entry.path().join("scaling_cur_freq")) {
                freqs_khz.push(khz as f64);
            }
        }
    }
    let governor = if governors.is_empty() {
        format!(
            "unreadable: no {}/policy*/scaling_governor (no cpufreq driver, as in most VMs)",
            cpufreq.display()
        )
    } else {
        governors.into_iter().collect::<Vec<_>>().join("+")
    };
    let boost = if let Ok(b) = read_u64(&cpufreq.join("boost")) {
        on_off(b != 0).to_string()
    } else if let Ok(no_turbo) = read_u64(&cpu_root.join("intel_pstate/no_turbo")) {
        on_off(no_turbo == 0).to_string()
    } else {
        format!(
            "unreadable: neither {}/boost nor {}/intel_pstate/no_turbo",
            cpufreq.display(),
            cpu_root.display()
        )
    };
    let mut out = vec![host("cpu_governor", governor), host("cpu_boost", boost)];
    if !freqs_khz.is_empty() {
        let mean = freqs_khz.iter().sum::<f64>() / freqs_khz.len() as f64;
        out.push(host("cpu_freq_mhz", format!("{:.0}", mean / 1000.0)));
    }
    out
}

fn host(key: &'static str, value: String) -> StateValue {
    StateValue {
        domain: "host".into(),
        key,
        value,
    }
}

/// `on` or `off`.
pub fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_bits_are_named_and_unknown_bits_kept() {
        assert_eq!(throttle_names(0), "none");
        assert_eq!(throttle_names(1 | 4), "gpu_idle+sw_power_cap");
        assert_eq!(throttle_names(64 | 0x1000), "hw_thermal_slowdown+0x1000");
    }

    #[test]
    fn cpu_state_reads_governors_and_boost_or_says_why_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let none = cpu_state(root);
        assert!(none[0].value.starts_with("unreadable: no "), "{none:?}");
        assert!(
            none[1].value.starts_with("unreadable: neither "),
            "{none:?}"
        );
        for (p, g, f) in [
            ("policy0", "performance", "3000000"),
            ("policy1", "powersave", "1000000"),
        ] {
            let d = root.join("cpufreq").join(p);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("scaling_governor"), format!("{g}\n")).expect("write");
            std::fs::write(d.join("scaling_cur_freq"), format!("{f}\n")).expect("write");
        }
        std::fs::create_dir_all(root.join("intel_pstate")).expect("mkdir");
        std::fs::write(root.join("intel_pstate/no_turbo"), "1\n").expect("write");
        let s = cpu_state(root);
        assert_eq!(s[0].value, "performance+powersave");
        assert_eq!(s[1].value, "off", "no_turbo 1 is boost off");
        assert_eq!((s[2].key, s[2].value.as_str()), ("cpu_freq_mhz", "2000"));
        std::fs::write(root.join("cpufreq/boost"), "1\n").expect("write");
        assert_eq!(cpu_state(root)[1].value, "on", "cpufreq/boost wins");
    }
}
