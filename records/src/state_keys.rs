//! The keys and values of `window_state.csv` that the report judges (the probes write
//! them under these names: `probes::state` and the NVML source).

/// Settings whose change during a configuration is flagged.
pub const SETTING_KEYS: [&str; 4] = [
    "power_limit_w",
    "persistence_mode",
    "cpu_governor",
    "cpu_boost",
];

/// GPU throttle reasons (as `throttle_reasons` names them) that slow a GPU against its
/// settings. Not `gpu_idle`, `applications_clocks_setting`, `display_clock_setting`, nor
/// `sw_power_cap`: a GPU at full load holding its power limit is working as configured
/// (the limit itself is a setting, whose change is flagged), and the window-state table
/// shows it.
pub const SLOWDOWN_REASONS: [&str; 5] = [
    "hw_slowdown",
    "sync_boost",
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
];
