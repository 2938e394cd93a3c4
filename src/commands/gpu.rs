//! `openshell gpu list|cdi`: the GPU inventory as the runtime sees it, and the CDI spec of an
//! access level built from the same edits the runtime applies.

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use openshell_gpu::{AccessLevel, GpuInventory, HostRoots, InventorySource};

/// GPU inventory and CDI.
#[derive(Args, Debug)]
pub struct GpuArgs {
    #[command(subcommand)]
    command: GpuCommand,
}

#[derive(Subcommand, Debug)]
enum GpuCommand {
    /// Show the node's GPUs (and MIG devices) as NVML reports them.
    List {
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print a Container Device Interface spec for the node's GPUs at an access level.
    Cdi {
        /// Access level the spec grants
        #[arg(long, value_enum, default_value_t = CdiAccess::InferenceOnly)]
        access: CdiAccess,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Format {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum CdiAccess {
    InferenceOnly,
    Full,
}

pub fn gpu(args: GpuArgs) -> Result<()> {
    let inventory = InventorySource::from_env()
        .inventory()
        .context("cannot read the GPU inventory")?;
    match args.command {
        GpuCommand::List {
            format: Format::Text,
        } => print!("{}", openshell_gpu::inventory_text(&inventory)),
        GpuCommand::List {
            format: Format::Json,
        } => println!("{}", openshell_gpu::inventory_json(&inventory)?),
        GpuCommand::Cdi { access } => {
            let access = match access {
                CdiAccess::InferenceOnly => AccessLevel::InferenceOnly,
                CdiAccess::Full => AccessLevel::Full,
            };
            let spec = openshell_gpu::cdi_spec(access, &inventory, &HostRoots::default())
                .context("cannot build the CDI spec")?;
            println!("{}", serde_json::to_string_pretty(&spec)?);
        }
    }
    Ok(())
}
