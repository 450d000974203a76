//! The keys of `window_state.csv` whose values the report judges, shared by the probes
//! that read them and the report that flags them.

/// Settings whose change during a configuration is flagged.
pub const SETTING_KEYS: [&str; 4] = [
    "power_limit_w",
    "persistence_mode",
    "cpu_governor",
    "cpu_boost",
];

/// GPU throttle reasons (as `throttle_reasons` names them) that slow a GPU against its
/// settings: all but `gpu_idle`, `applications_clocks_setting` and `display_clock_setting`.
pub const SLOWDOWN_REASONS: [&str; 6] = [
    "sw_power_cap",
    "hw_slowdown",
    "sync_boost",
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
];
