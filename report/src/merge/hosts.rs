//! `hosts.csv` of a merged folder: which machine ran each configuration, and the `host`
//! column it gives `summary.csv` when there was more than one.

use crate::ReportError;
use crate::model::SummaryRow;
use records::files;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One row of `hosts.csv` in a merged folder: which host ran a configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// Configuration id.
    pub config: String,
    /// Shard index (0-based).
    pub shard: u32,
    /// Host name of the machine that ran it.
    pub host: String,
}

/// Writes `hosts.csv` from (configuration, shard, host name) triples.
pub fn write<'a>(
    dir: &Path,
    rows: impl Iterator<Item = (&'a str, u32, &'a str)>,
) -> Result<(), ReportError> {
    let rows: Vec<HostRecord> = rows
        .map(|(config, shard, host)| HostRecord {
            config: config.to_string(),
            shard,
            host: host.to_string(),
        })
        .collect();
    Ok(records::table_io::write_csv(
        &dir.join(files::HOSTS_CSV),
        &rows,
    )?)
}

/// Host of each configuration, from `hosts.csv` (empty when the folder has none).
pub fn hosts(dir: &Path) -> Result<BTreeMap<String, String>, ReportError> {
    let path = dir.join(files::HOSTS_CSV);
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    records::table_io::read_csv::<HostRecord>(&path)?
        .map(|r| r.map(|h| (h.config, h.host)).map_err(ReportError::from))
        .collect()
}

/// Fills `host` of each summary row when the configurations ran on more than one host
/// (so that energies of different boards are not compared unknowingly); else leaves it empty.
pub fn label_hosts<'a>(
    dir: &Path,
    rows: impl IntoIterator<Item = &'a mut SummaryRow>,
) -> Result<(), ReportError> {
    let hosts = hosts(dir)?;
    let distinct: BTreeSet<&String> = hosts.values().collect();
    if distinct.len() < 2 {
        return Ok(());
    }
    for row in rows {
        row.host = Some(
            hosts
                .get(&row.config)
                .cloned()
                .unwrap_or_else(|| "unknown".into()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(config: &str) -> SummaryRow {
        SummaryRow {
            config: config.into(),
            ..SummaryRow::default()
        }
    }

    #[test]
    fn host_column_only_when_hosts_differ() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut rows = vec![row("a@d"), row("b@d")];
        label_hosts(dir.path(), &mut rows).expect("no hosts.csv");
        assert!(rows.iter().all(|r| r.host.is_none()));
        write(dir.path(), [("a@d", 0, "n1"), ("b@d", 1, "n1")].into_iter()).expect("write");
        label_hosts(dir.path(), &mut rows).expect("one host");
        assert!(rows.iter().all(|r| r.host.is_none()));
        write(dir.path(), [("a@d", 0, "n1"), ("b@d", 1, "n2")].into_iter()).expect("write");
        label_hosts(dir.path(), &mut rows).expect("two hosts");
        let hosts: Vec<_> = rows.iter().map(|r| r.host.as_deref()).collect();
        assert_eq!(hosts, [Some("n1"), Some("n2")]);
    }
}
