//! `openshell gpu list`: the inventory as text or JSON.

use std::fmt::Write as _;

use crate::inventory::Inventory;

/// The inventory as pretty JSON: the same format a fake-inventory fixture uses.
pub fn inventory_json(inventory: &Inventory) -> serde_json::Result<String> {
    serde_json::to_string_pretty(inventory)
}

/// The inventory as an aligned table: one row per GPU, then one per MIG device under it.
pub fn inventory_text(inventory: &Inventory) -> String {
    let mut rows = vec![
        [
            "INDEX", "UUID", "NAME", "MINOR", "BUS-ID", "MEMORY", "COMPUTE", "MIG",
        ]
        .map(String::from),
    ];
    for gpu in &inventory.gpus {
        rows.push([
            gpu.index.to_string(),
            gpu.uuid.clone(),
            gpu.name.clone(),
            gpu.minor_number.to_string(),
            gpu.pci_bus_id.clone(),
            gib(gpu.memory_total_bytes),
            gpu.compute_mode.to_string(),
            gpu.mig_mode.to_string(),
        ]);
        for mig in &gpu.mig_devices {
            rows.push([
                format!("{}:{}", gpu.index, mig.index),
                mig.uuid.clone(),
                mig.name.clone(),
                "-".into(),
                "-".into(),
                gib(mig.memory_total_bytes),
                "-".into(),
                format!("gi {} ci {}", mig.gpu_instance_id, mig.compute_instance_id),
            ]);
        }
    }
    let mut widths = [0usize; 8];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = format!(
        "NVIDIA driver {}, CUDA {}, {} GPU(s)\n",
        inventory.driver_version,
        inventory.cuda_driver_version,
        inventory.gpus.len()
    );
    for row in &rows {
        let mut line = String::new();
        for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_inventory;

    #[test]
    fn text_lists_every_gpu_and_mig_device_aligned() {
        let text = inventory_text(&sample_inventory());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NVIDIA driver 550.54.15, CUDA 12.4, 3 GPU(s)");
        assert!(lines[1].starts_with("INDEX  UUID"), "{}", lines[1]);
        let rows: Vec<&str> = lines[2..]
            .iter()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(rows, ["0", "1", "1:0", "1:1", "2"]);
        let uuid_column = lines[1].find("UUID").unwrap();
        for line in &lines[2..] {
            assert!(
                line[uuid_column..].starts_with("GPU-") || line[uuid_column..].starts_with("MIG-"),
                "{line}"
            );
        }
        assert!(
            lines[4].contains("9.8 GiB") && lines[4].ends_with("gi 1 ci 0"),
            "{}",
            lines[4]
        );
        assert!(
            lines[6].contains("0000:9B:00.0")
                && lines[6].contains("exclusive-process")
                && lines[6].ends_with("n/a")
        );
    }

    #[test]
    fn json_is_the_fixture_format() {
        let json = inventory_json(&sample_inventory()).unwrap();
        assert!(json.contains("\"minorNumber\": 3"), "{json}");
        assert_eq!(
            serde_json::from_str::<Inventory>(&json).unwrap(),
            sample_inventory()
        );
    }
}
