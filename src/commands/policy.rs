//! `openshell policy validate|schema|reference|compile|explain|compile-nl|replay|get|set`: policy
//! documents checked, their JSON Schema and reference printed, compiled into a bundle's
//! config.json, explained in a reviewer's words, their natural-language rules compiled, a
//! recorded audit trail decided again under them, and a running sandbox's egress policy shown
//! or replaced.
//!
//! `compile-nl` and `replay` run `nemotron-service compile-nl|replay` (found next to this binary, else on `PATH`)
//! rather than linking the natural-language compiler: that compiler brings Cedar, the content
//! detectors and the model client, and this binary is the one every `create`, `run` and `exec`
//! starts, so it stays without them. The service binary is the compiler's home anyway, with
//! the node's model configuration. For the same reason `get` and `set` run `openshell-egress
//! policy get|set`, the egress engine's own admin client (next to this binary, else on `PATH`).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use oci_spec::runtime::Spec;
use openshell_policy::node_config::NodeConfig;
use openshell_policy::{PolicyError, PolicySet, Position, Problem};

use super::{Context, validate_id};
use crate::bundle::{CallerBundle, StagedBundle};
use crate::{cgroup_path, exe_seal, hardening, policy_attach};

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
    /// Check policy files: every problem of every document, each as
    /// `file:line:column: message — hint`, then a summary line; exits 1 if any file is invalid.
    #[command(
        after_help = "Examples:\n  openshell policy validate bundles/*/openshell-policy.yaml\n  \
        openshell policy validate --format json policy.yaml   # for CI"
    )]
    Validate {
        /// Policy files (YAML, one or more documents each)
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format: text lines, or one JSON report (files, problems, summary) on stdout
        #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
        format: ValidateFormat,
    },
    /// Print the JSON Schema of a policy document, for editors and CI (the repository ships it
    /// as docs/openshell-policy.schema.json).
    Schema,
    /// Print the policy reference (Markdown; the repository ships it as
    /// docs/policy-reference.md).
    Reference,
    /// Compile the policy for a container from a bundle exactly as `create` does, and print
    /// the hardened config.json it would run with (`--format spec`), or the whole compiled
    /// record every component reads (`--format json`): the spec, the sandbox's network wiring,
    /// egress, decision, approval and routing rules, audit, and the record's digest. Paths that
    /// name the container's state use the id given with --id.
    #[command(
        after_help = "Examples:\n  openshell policy compile policy.yaml --bundle ./bundle\n  \
        openshell policy compile --format json policy.yaml --bundle ./bundle"
    )]
    Compile {
        /// The policy file
        file: PathBuf,
        /// The bundle whose config.json is hardened
        #[arg(long, short)]
        bundle: PathBuf,
        /// Output: the hardened config.json, or the compiled record as JSON
        #[arg(long, value_enum, default_value_t = CompileFormat::Spec)]
        format: CompileFormat,
        /// The container id the state paths are shown for
        #[arg(long, default_value = "CONTAINER")]
        id: String,
    },
    /// Explain every effect of the policy, part by part, from the record `create` compiles:
    /// namespaces, capabilities, syscalls, filesystem, limits, devices, hooks, the sandbox's
    /// network wiring, egress, decisions, approvals, routing and audit. Without FILE, explain
    /// the policy a container created from --bundle would get (annotation, environment, bundle
    /// file, --default-policy, node floor) and how it was derived.
    Explain {
        /// The policy file
        file: Option<PathBuf>,
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
    /// Decide the actions of a recorded audit trail again under a candidate policy and print
    /// what would change (allow -> deny, deny -> escalate ...) with the rules responsible.
    Replay {
        /// The candidate policy file
        policy: PathBuf,
        /// The audit trail (JSON lines, as the node's trail or `openshell audit` writes it)
        #[arg(long)]
        trail: PathBuf,
        /// Only this container's events
        #[arg(long)]
        container: Option<String>,
        /// Output format
        #[arg(long, value_parser = ["text", "json"], default_value = "text")]
        format: String,
    },
    /// Print the egress policy the node's egress engine enforces for a running container.
    Get {
        /// Container identifier
        container_id: String,
    },
    /// Replace a running container's egress policy (its NetworkPolicy, permissions and API
    /// catalog) with the one in a policy file, without restarting it.
    Set {
        /// Container identifier
        container_id: String,
        /// The policy file
        file: PathBuf,
    },
}

/// Runs a `policy` subcommand; returns the exit status.
pub fn policy(ctx: &Context, args: PolicyArgs) -> Result<i32> {
    match args.command {
        PolicyCommand::Validate { files, format } => validate(&files, format),
        PolicyCommand::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&openshell_policy::policy_schema())?
            );
            Ok(0)
        }
        PolicyCommand::Reference => {
            print!("{}", openshell_policy::policy_reference());
            Ok(0)
        }
        PolicyCommand::Compile {
            file,
            bundle,
            format,
            id,
        } => {
            let compiled = compile_file(ctx, &file, Some(&bundle), &id)?.policy;
            let json = match format {
                CompileFormat::Spec => serde_json::to_string_pretty(&compiled.spec)?,
                CompileFormat::Json => serde_json::to_string_pretty(&compiled)?,
            };
            println!("{json}");
            Ok(0)
        }
        PolicyCommand::Explain {
            file: Some(file),
            bundle,
        } => {
            let compiled = compile_file(ctx, &file, bundle.as_deref(), "CONTAINER")?;
            print!("{}", compiled.explanation);
            Ok(0)
        }
        PolicyCommand::Explain { file: None, bundle } => {
            let bundle = bundle.context(
                "explain needs a policy FILE, or --bundle BUNDLE for the policy a container from it would get",
            )?;
            explain_attachment(ctx, &bundle).map(|()| 0)
        }
        PolicyCommand::CompileNl { file, format } => compile_nl(&file, &format),
        PolicyCommand::Replay {
            policy,
            trail,
            container,
            format,
        } => replay(&policy, &trail, container.as_deref(), &format),
        PolicyCommand::Get { container_id } => {
            let id = existing(ctx, &container_id)?;
            egress_policy(&["get".as_ref(), id.as_ref()])
        }
        PolicyCommand::Set { container_id, file } => {
            // Checked here so the error names the file before any engine is asked.
            PolicySet::load(&file)?;
            let id = existing(ctx, &container_id)?;
            egress_policy(&["set".as_ref(), id.as_ref(), file.as_os_str()])
        }
    }
}

/// The full id of an existing container named by `id` or a unique prefix of it.
fn existing(ctx: &Context, id: &str) -> Result<String> {
    let id = ctx.resolve_id(id)?;
    if !ctx.exists(&id)? {
        bail!("container {id:?} does not exist");
    }
    Ok(id)
}

/// The egress engine's binary, whose admin client `policy get|set` runs.
const EGRESS_BINARY: &str = "openshell-egress";

/// Replaces this process with `openshell-egress policy ARGS` for an existing container; it
/// reads the same node configuration (`OPENSHELL_CONFIG` is inherited).
fn egress_policy(args: &[&std::ffi::OsStr]) -> Result<i32> {
    let binary = exe_seal::sibling(EGRESS_BINARY).unwrap_or_else(|| PathBuf::from(EGRESS_BINARY));
    let err = Command::new(&binary).arg("policy").args(args).exec();
    Err(err).with_context(|| {
        format!(
            "cannot run {} (install it next to openshell or on PATH): it is the egress engine's admin client",
            binary.display()
        )
    })
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

/// Replaces this process with `nemotron-service replay POLICY --trail FILE`, which reads the
/// same node configuration (`OPENSHELL_CONFIG` is inherited).
fn replay(policy: &Path, trail: &Path, container: Option<&str>, format: &str) -> Result<i32> {
    let binary =
        exe_seal::sibling(NL_COMPILER_BINARY).unwrap_or_else(|| PathBuf::from(NL_COMPILER_BINARY));
    let mut command = Command::new(&binary);
    command
        .arg("replay")
        .arg("--trail")
        .arg(trail)
        .arg("--format")
        .arg(format);
    if let Some(id) = container {
        command.arg("--container").arg(id);
    }
    let err = command.arg(policy).exec();
    Err(err).with_context(|| {
        format!(
            "cannot run {} (install it next to openshell or on PATH): it replays audit trails under a policy",
            binary.display()
        )
    })
}

/// Output of `policy validate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ValidateFormat {
    Text,
    Json,
}

/// The outcome of checking one file.
struct Checked {
    file: String,
    outcome: std::result::Result<PolicySet, Vec<Problem>>,
}

fn check_file(file: &Path) -> Checked {
    let name = file.display().to_string();
    let outcome = PolicySet::load(file).map_err(|error| match error {
        PolicyError::Invalid(problems) => problems,
        other => vec![Problem {
            file: name.clone(),
            position: Position::UNKNOWN,
            message: other
                .to_string()
                .trim_start_matches(&format!("{name}: "))
                .to_owned(),
            hint: "check the path and that the file is readable UTF-8 text".to_owned(),
        }],
    });
    Checked {
        file: name,
        outcome,
    }
}

fn validate(files: &[PathBuf], format: ValidateFormat) -> Result<i32> {
    let checked: Vec<Checked> = files.iter().map(|file| check_file(file)).collect();
    let invalid = checked.iter().filter(|c| c.outcome.is_err()).count();
    let problems: usize = checked
        .iter()
        .map(|c| c.outcome.as_ref().err().map_or(0, Vec::len))
        .sum();
    let summary = format!(
        "{invalid} of {} policy files are invalid, {problems} problem{}",
        files.len(),
        if problems == 1 { "" } else { "s" }
    );
    match format {
        ValidateFormat::Text => {
            for file in &checked {
                match &file.outcome {
                    Ok(set) => println!("{}: ok ({} {})", file.file, set.name(), set.digest()),
                    Err(problems) => problems.iter().for_each(|p| eprintln!("{p}")),
                }
            }
            if invalid > 0 {
                eprintln!("{summary}");
            } else {
                println!("{summary}");
            }
        }
        ValidateFormat::Json => {
            let report = serde_json::json!({
                "files": checked.iter().map(file_json).collect::<Vec<_>>(),
                "summary": {
                    "files": files.len(),
                    "invalid": invalid,
                    "problems": problems,
                },
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    }
    Ok(if invalid > 0 { 1 } else { 0 })
}

fn file_json(checked: &Checked) -> serde_json::Value {
    match &checked.outcome {
        Ok(set) => serde_json::json!({
            "file": checked.file,
            "valid": true,
            "name": set.name(),
            "digest": set.digest(),
            "problems": [],
        }),
        Err(problems) => serde_json::json!({
            "file": checked.file,
            "valid": false,
            "problems": problems.iter().map(|p| serde_json::json!({
                "line": p.position.line,
                "column": p.position.column,
                "message": p.message,
                "hint": p.hint,
            })).collect::<Vec<_>>(),
        }),
    }
}

/// The policy a container created from `bundle` would run under, how it was chosen, and what
/// it changes.
fn explain_attachment(ctx: &Context, bundle: &Path) -> Result<()> {
    let caller = CallerBundle::load(bundle)?;
    let node = NodeConfig::load().context("node configuration")?;
    let resolved = policy_attach::resolve(
        &caller.spec,
        &caller.dir,
        ctx.default_policy.as_deref(),
        &node,
    )?;
    let Some(attached) = resolved else {
        println!("no policy: a container from this bundle runs as it would under runc");
        return Ok(());
    };
    print!("{}", attached.derivation);
    let compiled = compile_for(ctx, &caller.spec, &attached.policy, &node, "CONTAINER")?;
    print!("{}", compiled.explanation);
    Ok(())
}

/// `policy compile|explain FILE`: the policy in `file` compiled for a container `id` from
/// `bundle` (else the runc default spec).
fn compile_file(
    ctx: &Context,
    file: &Path,
    bundle: Option<&Path>,
    id: &str,
) -> Result<openshell_policy::Compiled> {
    let policy = PolicySet::load(file)?;
    let spec = match bundle {
        Some(bundle) => CallerBundle::load(bundle)?.spec,
        None => Spec::default(),
    };
    let node = NodeConfig::load().context("node configuration")?;
    compile_for(ctx, &spec, &policy, &node, id)
}

/// Compiles as `create` does for container `id`: the same cgroups path, hook calls and state
/// paths, so the record is the one `create` would write.
fn compile_for(
    ctx: &Context,
    spec: &Spec,
    policy: &PolicySet,
    node: &NodeConfig,
    id: &str,
) -> Result<openshell_policy::Compiled> {
    validate_id(id)?;
    let mut spec = spec.clone();
    cgroup_path::ensure_cgroups_path(&mut spec, id, ctx.systemd_cgroup)?;
    let staged_dir = StagedBundle::path(&ctx.root, id);
    let hooks =
        hardening::hook_injection(node, policy, &staged_dir.join(StagedBundle::POLICY_FILE))?;
    hardening::compile(&spec, policy, node, &staged_dir, Some(hooks))
}

/// Output of `policy compile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CompileFormat {
    /// The hardened config.json.
    Spec,
    /// The compiled record.
    Json,
}
