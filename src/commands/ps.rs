//! `ps`: the container's processes, from its cgroup.

use std::process::Command;

use anyhow::{Context as _, Result, bail};
use libcgroups::common::CgroupManager;

use super::{Context, cgroup_manager};

pub fn ps(ctx: &Context, args: liboci_cli::Ps) -> Result<()> {
    let container = ctx.load(&args.container_id)?;
    let mut pids: Vec<i32> = cgroup_manager(&container)?
        .get_all_pids()
        .context("cannot list the container's processes")?
        .into_iter()
        .map(|pid| pid.as_raw())
        .collect();
    pids.sort_unstable();
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => print_table(&pids, &args.ps_options)?,
        other => bail!("invalid --format {other:?}: expected \"table\" or \"json\""),
    }
    Ok(())
}

/// Runs the host's `ps` (default `-ef`) and keeps the header plus the container's rows.
fn print_table(pids: &[i32], options: &[String]) -> Result<()> {
    let default = ["-ef".to_owned()];
    let options = if options.is_empty() {
        &default[..]
    } else {
        options
    };
    let output = Command::new("ps")
        .args(options)
        .output()
        .context("cannot run ps")?;
    if !output.status.success() {
        bail!(
            "ps {}: {}",
            options.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(pid_column) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps {} printed no PID column", options.join(" "));
    };
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|pid| pids.contains(&pid)) {
            println!("{line}");
        }
    }
    Ok(())
}
