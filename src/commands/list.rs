//! `list`: the containers under the state root, as a table or as JSON.

use std::fs;
use std::io::Write;

use anyhow::{Context as _, Result, bail};
use libcontainer::container::Container;
use tabwriter::TabWriter;

use super::state::StateDocument;
use super::{Context, status_name};

pub fn list(ctx: &Context, args: liboci_cli::List) -> Result<()> {
    let root = ctx.root()?;
    let mut documents = Vec::new();
    let entries = match fs::read_dir(&root) {
        Ok(entries) => entries.collect::<Vec<_>>(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", root.display())),
    };
    for entry in entries {
        let dir = entry?.path();
        if !dir.join("state.json").is_file() {
            continue;
        }
        match Container::load(dir.clone()) {
            Ok(container) => documents.push(StateDocument::of(ctx, &container)?),
            Err(err) => tracing::warn!("skipping {}: {err}", dir.display()),
        }
    }
    documents.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for document in &documents {
            writeln!(out, "{}", document.id)?;
        }
        return Ok(());
    }
    match args.format.as_str() {
        "json" => writeln!(out, "{}", serde_json::to_string(&documents)?)?,
        "table" => {
            let mut table = TabWriter::new(out);
            writeln!(table, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")?;
            for d in &documents {
                writeln!(
                    table,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    d.id,
                    d.pid,
                    status_name(d.status),
                    d.bundle.display(),
                    d.created,
                    d.owner
                )?;
            }
            table.flush()?;
        }
        other => bail!("invalid --format {other:?}: expected \"table\" or \"json\""),
    }
    Ok(())
}
