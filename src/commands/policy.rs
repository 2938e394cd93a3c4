//! `openshell policy validate|compile|explain|compile-nl`: policy documents checked, compiled
//! into a bundle's config.json, explained in a reviewer's words, and their natural-language
//! rules compiled.
//!
//! `compile-nl` runs `nemotron-service compile-nl` (found next to this binary, else on `PATH`)
//! rather than linking the natural-language compiler: that compiler brings Cedar, the content
//! detectors and the model client, and this binary is the one every `create`, `run` and `exec`
//! starts, so it stays without them. The service binary is the compiler's home anyway, with
//! the node's model configuration.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use oci_spec::runtime::Spec;
use openshell_policy::PolicySet;
use openshell_policy::node_config::NodeConfig;

use crate::bundle::CallerBundle;
use crate::{exe_seal, hardening};

/// The binary that compiles natural-language policies.
const NL_COMPILER_BINARY: &str = "nemotron-service";

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
    /// Compile the NaturalLanguagePolicy documents of a policy file (with the grammar, or the
    /// model when the node configuration asks for it) and print the rules and the Cedar
    /// policies; a sentence not understood is reported with its position and exits 1.
    CompileNl {
        /// The policy file
        file: PathBuf,
        /// Output format
        #[arg(long, value_parser = ["text", "json"], default_value = "text")]
        format: String,
    },
}

/// Runs a `policy` subcommand; returns the exit status.
pub fn policy(args: PolicyArgs) -> Result<i32> {
    match args.command {
        PolicyCommand::Validate { files } => validate(&files).map(|()| 0),
        PolicyCommand::Compile { file, bundle } => {
            let hardened = harden_file(&file, Some(&bundle))?;
            println!("{}", serde_json::to_string_pretty(&hardened.spec)?);
            Ok(0)
        }
        PolicyCommand::Explain { file, bundle } => {
            let hardened = harden_file(&file, bundle.as_deref())?;
            print!("{}", hardened.explanation);
            Ok(0)
        }
        PolicyCommand::CompileNl { file, format } => compile_nl(&file, &format),
    }
}

/// Replaces this process with `nemotron-service compile-nl FILE --format FORMAT`, which reads
/// the same node configuration (`OPENSHELL_CONFIG` is inherited).
fn compile_nl(file: &Path, format: &str) -> Result<i32> {
    let binary =
        exe_seal::sibling(NL_COMPILER_BINARY).unwrap_or_else(|| PathBuf::from(NL_COMPILER_BINARY));
    let err = Command::new(&binary)
        .arg("compile-nl")
        .arg("--format")
        .arg(format)
        .arg(file)
        .exec();
    Err(err).with_context(|| {
        format!(
            "cannot run {} (install it next to openshell or on PATH): it compiles natural-language policies",
            binary.display()
        )
    })
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
