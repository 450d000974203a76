//! Which GPUs to read: a configured list, else `CUDA_VISIBLE_DEVICES`, else all.

use super::device::GpuDevice;

/// One entry of a GPU selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuSelector {
    /// NVML index (PCI bus order).
    Index(u32),
    /// A GPU UUID (`GPU-...`) or a unique prefix of one, as CUDA accepts.
    Uuid(String),
    /// A MIG instance UUID (`MIG-...`): selects its physical GPU.
    Mig(String),
}

/// The GPUs wanted, and where the choice came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuSelection {
    /// `None`: every GPU the driver sees.
    pub selectors: Option<Vec<GpuSelector>>,
    /// Where the selection came from, for notes (`config`, `CUDA_VISIBLE_DEVICES`, `all`).
    pub origin: &'static str,
}

impl GpuSelection {
    /// From the configured list (wins when non-empty) or `CUDA_VISIBLE_DEVICES`.
    pub fn new(configured: &[String], cuda_visible_devices: Option<&str>) -> Self {
        if !configured.is_empty() {
            return Self {
                selectors: Some(configured.iter().filter_map(|s| parse_entry(s)).collect()),
                origin: "config",
            };
        }
        match cuda_visible_devices {
            Some(list) => Self {
                // CUDA stops at the first entry it cannot parse (e.g. -1 hides every GPU).
                selectors: Some(list.split(',').map_while(parse_entry).collect()),
                origin: "CUDA_VISIBLE_DEVICES",
            },
            None => Self {
                selectors: None,
                origin: "all",
            },
        }
    }

    /// From this process's environment and the configured list.
    pub fn from_env(configured: &[String]) -> Self {
        Self::new(
            configured,
            std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref(),
        )
    }
}

fn parse_entry(entry: &str) -> Option<GpuSelector> {
    let e = entry.trim();
    if e.starts_with("GPU-") {
        Some(GpuSelector::Uuid(e.to_string()))
    } else if e.starts_with("MIG-") {
        Some(GpuSelector::Mig(e.to_string()))
    } else {
        e.parse().ok().map(GpuSelector::Index)
    }
}

/// Keeps the selected devices, in selection order without repeats; says which matched nothing.
pub fn select(
    devices: Vec<Box<dyn GpuDevice>>,
    selection: &GpuSelection,
) -> (Vec<Box<dyn GpuDevice>>, Vec<String>) {
    let Some(selectors) = &selection.selectors else {
        return (devices, Vec::new());
    };
    let mut slots: Vec<Option<Box<dyn GpuDevice>>> = devices.into_iter().map(Some).collect();
    let mut chosen = Vec::new();
    let mut unmatched = Vec::new();
    for sel in selectors {
        let position = slots
            .iter()
            .position(|slot| slot.as_ref().is_some_and(|d| matches(d.as_ref(), sel)));
        match position.and_then(|p| slots[p].take()) {
            Some(device) => chosen.push(device),
            None => unmatched.push(format!(
                "{sel:?} from {} matches no GPU the driver sees (or was given twice)",
                selection.origin
            )),
        }
    }
    (chosen, unmatched)
}

fn matches(device: &dyn GpuDevice, sel: &GpuSelector) -> bool {
    match sel {
        GpuSelector::Index(i) => device.index() == *i,
        GpuSelector::Uuid(u) => device.uuid().is_ok_and(|id| id.starts_with(u.as_str())),
        GpuSelector::Mig(m) => device
            .mig_uuids()
            .iter()
            .any(|id| id.starts_with(m.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_wins_then_cuda_visible_devices_then_all() {
        let s = GpuSelection::new(&["1".into(), "GPU-abc".into()], Some("0"));
        assert_eq!(
            s.selectors,
            Some(vec![
                GpuSelector::Index(1),
                GpuSelector::Uuid("GPU-abc".into())
            ])
        );
        let s = GpuSelection::new(&[], Some("2,MIG-x,-1,0"));
        assert_eq!(
            s.selectors,
            Some(vec![
                GpuSelector::Index(2),
                GpuSelector::Mig("MIG-x".into())
            ])
        );
        assert_eq!(GpuSelection::new(&[], Some("")).selectors, Some(vec![]));
        assert_eq!(GpuSelection::new(&[], None).selectors, None);
    }
}
