//! Command-line surface: runc's global flags and subcommands (youki's `liboci-cli` definitions,
//! extended where runc differs), plus openshell's own `policy`, `gpu` and `audit` tooling.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::commands::{self, Context};
use crate::logging::{LogFormat, Logger, print_error};

/// Default state root, as `/run/runc` is runc's.
pub const DEFAULT_ROOT: &str = "/run/openshell";

/// Examples shown under `openshell --help`.
const EXAMPLES: &str = "Examples:
  openshell policy validate my-agent.yaml            check a policy (every problem, file:line:column)
  openshell policy explain my-agent.yaml             what the policy changes in a container
  openshell --default-policy my-agent run -b BUNDLE demo
                                                     run a bundle under <policy_dir>/my-agent.yaml
  openshell list                                     containers and their state
  openshell audit 3f2a                               a container's decisions (an id prefix will do)

As a runtime: docker run --runtime=openshell …, podman --runtime /usr/local/bin/openshell …,
containerd's runc shim with BinaryName = \"/usr/local/bin/openshell\". Policy reference:
docs/policy-reference.md.";

#[derive(Parser, Debug)]
#[command(
    name = "openshell",
    about = "A runc-compatible OCI runtime that hardens containers by SandboxPolicy",
    after_help = EXAMPLES,
    disable_version_flag = true,
    // The global flags come from youki's liboci-cli; their help speaks of openshell here.
    mut_arg("log", |arg| arg.help("Write openshell's log to this file (default: stderr)")),
    mut_arg("debug", |arg| arg.help("Log at debug level")),
    mut_arg("log_format", |arg| arg.help("Log format: text (default) or json")),
    mut_arg("root", |arg| {
        arg.help("Directory holding container state (default: /run/openshell)")
    }),
    mut_arg("systemd_cgroup", |arg| {
        arg.help("Use the systemd cgroup manager rather than cgroupfs directly")
    }),
)]
struct Cli {
    #[command(flatten)]
    global: liboci_cli::GlobalOpts,

    /// Policy for containers that attach none (name in the policy directory, or a path); for
    /// Docker's daemon.json `runtimeArgs`, since Docker cannot pass annotations.
    #[arg(long, value_name = "NAME")]
    default_policy: Option<String>,

    /// Node configuration file (default $OPENSHELL_CONFIG, else /etc/openshell/config.toml);
    /// for callers that do not pass their environment to the runtime (Podman's conmon).
    #[arg(long, value_name = "FILE")]
    node_config: Option<PathBuf>,

    /// Print the version, the OCI runtime-spec version and the libseccomp version.
    #[arg(short = 'v', long)]
    version: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
// The runc subcommands' arguments come from youki's liboci-cli; their descriptions are
// openshell's own. A CONTAINER may be given as a unique prefix of a 64-hex-digit id.
enum Command {
    /// Create a container from a bundle, hardened by its policy if one is attached
    #[command(long_about = None)]
    Create(liboci_cli::Create),
    /// Start a created container's process
    #[command(long_about = None)]
    Start(liboci_cli::Start),
    /// Print a container's state as JSON
    #[command(long_about = None)]
    State(liboci_cli::State),
    Kill(KillArgs),
    /// Delete a stopped container (or any, with --force) and everything it holds
    #[command(long_about = None)]
    Delete(liboci_cli::Delete),
    /// Create and start a container (e.g. openshell --default-policy my-agent run -b BUNDLE ID)
    #[command(long_about = None)]
    Run(liboci_cli::Run),
    /// Run a process in a running container, under the container's policy
    #[command(long_about = None)]
    Exec(liboci_cli::Exec),
    /// List the processes of a container
    #[command(long_about = None)]
    Ps(liboci_cli::Ps),
    /// Freeze every process of a container
    #[command(long_about = None)]
    Pause(liboci_cli::Pause),
    /// Thaw a paused container
    #[command(long_about = None)]
    Resume(liboci_cli::Resume),
    /// Print a container's resource statistics and OOM events
    #[command(long_about = None)]
    Events(liboci_cli::Events),
    /// Change a running container's resource limits (never beyond its policy's)
    #[command(long_about = None)]
    Update(liboci_cli::Update),
    /// Print what this runtime supports (OCI features JSON)
    #[command(long_about = None)]
    Features(liboci_cli::Features),
    /// Write a default config.json for a new bundle
    #[command(long_about = None)]
    Spec(liboci_cli::Spec),
    /// List the containers under the state root
    #[command(long_about = None)]
    List(liboci_cli::List),
    /// Not supported (openshell has no CRIU integration)
    #[command(long_about = None)]
    Checkpoint(liboci_cli::Checkpoint),
    Restore(RestoreArgs),
    /// Print a shell completion script.
    Completion(CompletionArgs),
    /// GPU inventory and CDI specs.
    Gpu(commands::gpu::GpuArgs),
    /// Policy tooling: validate, schema, reference, compile, explain, compile-nl, replay; a running
    /// sandbox's egress policy: get, set.
    Policy(commands::policy::PolicyArgs),
    /// Show a container's audit trail (decisions about it, from the node's local trail).
    #[command(after_help = "Examples:\n  openshell audit 3f2a9c              \
        the container whose id begins 3f2a9c\n  openshell audit --follow --format json demo")]
    Audit(commands::audit::AuditArgs),
    /// The node's approval queue: list, show, approve, deny and watch the escalated actions
    /// waiting for a human (through the openshell-approvals daemon's socket).
    #[command(
        after_help = "Examples:\n  openshell approvals list --state pending\n  \
        openshell approvals approve 9f0c... --note \"invoice checked\"\n  openshell approvals watch"
    )]
    Approvals(commands::approvals::ApprovalsArgs),
}

/// Send a signal to the container's init process (default SIGTERM), or to all its processes.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Send the signal to all processes in the container
    #[arg(short, long)]
    pub all: bool,
    /// Container identifier
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
    /// Signal name (KILL, SIGKILL) or number (9)
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// Not supported (openshell has no CRIU integration).
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Accepted for runc compatibility; restore is not supported.
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    pub args: Vec<String>,
}

/// Print a completion script for a shell.
#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell: bash, zsh, fish, elvish or powershell
    #[arg(default_value = "bash")]
    pub shell: clap_complete::Shell,
}

/// The version text, in runc's layout.
fn version_text() -> String {
    let seccomp = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!(
        "openshell version {}\nspec: {}\nlibcontainer: 0.7\nlibseccomp: {seccomp}\n",
        env!("CARGO_PKG_VERSION"),
        oci_spec::runtime::VERSION,
    )
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    crate::exe_seal::record_original_exe();
    crate::in_process_hooks::install();
    let cli = Cli::parse();
    let config_env = openshell_policy::node_config::CONFIG_ENV;
    let node_config = cli.node_config.clone().or_else(|| {
        std::env::var_os(config_env)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = node_config {
        // Absolute, because the hooks are handed the same path and run from the bundle.
        let path = std::path::absolute(&path).unwrap_or(path);
        // SAFETY: single-threaded here; the node configuration is read through this variable by
        // the runtime and handed to its hooks.
        unsafe { std::env::set_var(config_env, path) };
    }
    if cli.version {
        print!("{}", version_text());
        return 0;
    }
    let Some(command) = cli.command else {
        // Printing help cannot meaningfully fail.
        let _ = Cli::command().print_help();
        return 0;
    };
    let logger = match LogFormat::parse(cli.global.log_format.as_deref())
        .and_then(|format| Logger::install(cli.global.log.as_deref(), format, cli.global.debug))
    {
        Ok(logger) => logger,
        Err(err) => {
            print_error(&err);
            return 1;
        }
    };
    let ctx = Context {
        root: cli
            .global
            .root
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT)),
        systemd_cgroup: cli.global.systemd_cgroup,
        default_policy: cli.default_policy,
    };
    match dispatch(&ctx, command) {
        Ok(status) => status,
        Err(err) => {
            logger.fatal(&err);
            1
        }
    }
}

fn dispatch(ctx: &Context, command: Command) -> anyhow::Result<i32> {
    let done = |result: anyhow::Result<()>| result.map(|()| 0);
    match command {
        Command::Create(args) => done(commands::create::create(ctx, args)),
        Command::Start(args) => done(commands::start::start(ctx, args)),
        Command::State(args) => done(commands::state::state(ctx, args)),
        Command::Kill(args) => done(commands::kill::kill(ctx, args)),
        Command::Delete(args) => done(commands::delete::delete(ctx, args)),
        Command::Run(args) => commands::run::run(ctx, args),
        Command::Exec(args) => commands::exec::exec(ctx, args),
        Command::Ps(args) => done(commands::ps::ps(ctx, args)),
        Command::Pause(args) => done(commands::pause::pause(ctx, args)),
        Command::Resume(args) => done(commands::pause::resume(ctx, args)),
        Command::Events(args) => done(commands::events::events(ctx, args)),
        Command::Update(args) => done(commands::update::update(ctx, args)),
        Command::Features(_) => done(commands::features::features()),
        Command::Spec(args) => done(commands::spec::spec(args)),
        Command::List(args) => done(commands::list::list(ctx, args)),
        Command::Checkpoint(_) => Err(commands::unsupported("checkpoint")),
        Command::Restore(_) => Err(commands::unsupported("restore")),
        Command::Gpu(args) => done(commands::gpu::gpu(args)),
        Command::Policy(args) => commands::policy::policy(ctx, args),
        Command::Audit(args) => done(commands::audit::audit(ctx, args)),
        Command::Approvals(args) => commands::approvals::approvals(args),
        Command::Completion(args) => {
            clap_complete::generate(
                args.shell,
                &mut Cli::command(),
                "openshell",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn kill_defaults_to_sigterm_like_runc() {
        let cli = Cli::try_parse_from(["openshell", "kill", "c1"]).unwrap();
        match cli.command {
            Some(Command::Kill(kill)) => assert_eq!(kill.signal, "SIGTERM"),
            other => panic!("unexpected parse: {other:?}"),
        }
    }

    #[test]
    fn containerd_style_invocation_parses() {
        let cli = Cli::try_parse_from([
            "openshell",
            "--root",
            "/run/containerd/runc/default",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "c1",
        ])
        .unwrap();
        assert_eq!(cli.global.log_format.as_deref(), Some("json"));
        assert!(matches!(cli.command, Some(Command::Create(_))));
    }

    #[test]
    fn version_names_the_spec() {
        let text = version_text();
        assert!(text.starts_with("openshell version "), "{text}");
        assert!(text.contains(&format!("spec: {}", oci_spec::runtime::VERSION)));
        assert!(text.contains("libseccomp: 2."), "{text}");
    }
}
