//! `openshell policy validate|compile|explain`: policy documents checked, compiled into a
//! bundle's config.json, and explained in a reviewer's words.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use oci_spec::runtime::Spec;
use openshell_policy::PolicySet;
use openshell_policy::node_config::NodeConfig;

use crate::bundle::CallerBundle;
use crate::hardening;

/// Policy tooling.
#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Check policy files; every problem is printed as file:line:column: message — hint.
    Validate {
        /// Policy files (YAML, one or more documents each)
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the hardened config.json a bundle would run with under the policy (without the
    /// per-container `openshell-hook` calls `create` adds).
    Compile {
        /// The policy file
        file: PathBuf,
        /// The bundle whose config.json is hardened
        #[arg(long, short)]
        bundle: PathBuf,
    },
    /// Explain what the policy changes and why: capabilities removed, syscalls denied,
    /// namespaces, read-only paths, limits, devices.
    Explain {
        /// The policy file
        file: PathBuf,
        /// Explain against this bundle's config.json (default: the runc default spec)
        #[arg(long, short)]
        bundle: Option<PathBuf>,
    },
}

pub fn policy(args: PolicyArgs) -> Result<()> {
    match args.command {
        PolicyCommand::Validate { files } => validate(&files),
        PolicyCommand::Compile { file, bundle } => {
            let hardened = harden_file(&file, Some(&bundle))?;
            println!("{}", serde_json::to_string_pretty(&hardened.spec)?);
            Ok(())
        }
        PolicyCommand::Explain { file, bundle } => {
            let hardened = harden_file(&file, bundle.as_deref())?;
            print!("{}", hardened.explanation);
            Ok(())
        }
    }
}

fn validate(files: &[PathBuf]) -> Result<()> {
    let mut failed = 0;
    for file in files {
        match PolicySet::load(file) {
            Ok(set) => println!("{}: ok ({} {})", file.display(), set.name(), set.digest()),
            Err(err) => {
                eprintln!("{err}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} policy files are invalid", files.len());
    }
    Ok(())
}

fn harden_file(file: &Path, bundle: Option<&Path>) -> Result<openshell_policy::Hardened> {
    let policy = PolicySet::load(file)?;
    let spec = match bundle {
        Some(bundle) => CallerBundle::load(bundle)?.spec,
        None => Spec::default(),
    };
    let node = NodeConfig::load().context("node configuration")?;
    hardening::harden_spec(&spec, &policy, &node, None)
}
