//! The main job, end to end on this machine: the example agents of `bundles/`, built from
//! busybox by `bundles/build.sh`, run by `openshell` under their SandboxPolicy.
//!
//! Everything runs in network namespaces the demo creates (the egress world of the tests): a
//! node namespace with the egress engine, the runtime and its hooks, and a stand-in internet
//! answering for a few names. Admission decisions come from the hook's embedded policy engine
//! (no `nemotron-service` needed); audit events go to the node's trail and to a stand-in SIEM
//! for `siem://security-events`. The sales-ops agent reports what its policy let through; the
//! customer-support agent asks for `gpuAccess: inference-only`, so on a node without an NVIDIA
//! driver it must be refused at `create` with nothing left behind. The payments agent pays
//! three times: under the approval threshold it goes through; above it the egress engine holds
//! the call while the node's approval queue (`openshell-approvals`) posts to a stand-in Slack,
//! and the demo, as the operator, approves the first with `openshell approvals approve` and
//! lets the second time out to the policy's default (deny). The research assistant asks models
//! through the node's privacy router (`openshell-router`), with the address and token the
//! runtime gave it: its public question goes to a stand-in cloud model over HTTPS, its prompt
//! with a customer's personal data to the node's real local model (llama.cpp's server with
//! SmolLM2, `scripts/local-model.sh`), and its direct call to a cloud model API is refused by
//! the egress engine; the router's metrics and what the cloud received show all three.
//!
//! Exit status 0 when every agent saw exactly what its policy allows.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use openshell_integration::binaries;
use openshell_integration::egress_world::{CLOUD_MODEL, EgressWorld};
use openshell_integration::local_model::{LocalModel, MODEL_ALIAS};
use openshell_integration::node_router::NodeRouter;
use openshell_integration::operator;
use openshell_integration::runtime::{Runtime, run_to_files};
use openshell_integration::siem::SiemStandIn;
use openshell_policy::{GpuAccess, PolicySet};

fn main() -> ExitCode {
    openshell_integration::require_root();
    let mut world = EgressWorld::new();
    // The SIEM collector listens in the node's namespace, where the hooks deliver to it.
    let siem = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                world.node.enter_current_thread();
                SiemStandIn::start()
            })
            .join()
            .expect("start the SIEM stand-in")
    });
    world.extend_node_config(&format!("[siem]\nsecurity-events = \"{}\"\n", siem.url()));
    // The engine reads the node configuration when it starts: start it again to know the SIEM.
    world.kill_engine();
    world.start_engine();
    // The node's models and its privacy router, which every restricted sandbox registers with.
    let (local_model, router) = start_models(&world);
    let runtime = world.runtime();

    let sales_ops = run_agent(&world, &runtime, "sales-ops");
    let customer_support = run_agent(&world, &runtime, "customer-support");
    let payments = run_payments(&world, &runtime);
    let research_assistant = run_research_assistant(&world, &runtime, &router);
    drop(router);
    drop(local_model);

    section("what the SIEM received (siem://security-events)");
    for event in siem.events() {
        println!(
            "{} {} {} {}",
            event["container_id"].as_str().unwrap_or("-"),
            event["action"].as_str().unwrap_or("-"),
            event["decision"].as_str().unwrap_or("-"),
            event["reason"].as_str().unwrap_or("")
        );
    }
    let left = world.sandbox_interfaces();
    section("left behind");
    println!("sandbox interfaces in the node namespace: {left:?}");
    println!(
        "containers in the runtime's state: {}",
        runtime.ok(&["list", "-q"]).trim()
    );

    // Stopping the collector wakes its listener with a connection: from the node's namespace.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            world.node.enter_current_thread();
            drop(siem);
        });
    });

    if sales_ops && customer_support && payments && research_assistant && left.is_empty() {
        println!("\ndemo passed: every agent got exactly what its policy allows");
        ExitCode::SUCCESS
    } else {
        section("the egress engine's log");
        print!("{}", world.engine_log());
        println!("\ndemo FAILED: see above");
        ExitCode::FAILURE
    }
}

/// Builds the bundle of `agent`, runs it in the foreground, shows its audit trail, deletes
/// it. Returns whether the outcome is the expected one.
fn run_agent(world: &EgressWorld, runtime: &Runtime, agent: &str) -> bool {
    let bundle = world.dir().join(agent);
    section(&format!("bundles/build.sh {agent}"));
    let built = Command::new(bundles_dir().join("build.sh"))
        .arg(agent)
        .arg(&bundle)
        .env("OPENSHELL", binaries::openshell())
        .status()
        .expect("run bundles/build.sh");
    if !built.success() {
        return false;
    }

    section(&format!(
        "openshell run --bundle {} {agent}",
        bundle.display()
    ));
    // The policy as the runtime reads it: does it ask for a GPU this node lacks?
    let needs_gpu = PolicySet::load(bundle.join("openshell-policy.yaml"))
        .ok()
        .and_then(|set| set.sandbox().map(|s| s.spec.resources.gpu_access.value))
        .is_some_and(|access| access != GpuAccess::None);
    if needs_gpu && !Path::new("/dev/nvidiactl").exists() {
        return refused_for_want_of_a_gpu(runtime, &bundle, agent);
    }
    let ran = runtime
        .command()
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(agent)
        .status()
        .expect("run openshell");
    println!("=> the agent exited with {}", ran.code().unwrap_or(-1));

    section(&format!("openshell audit {agent}"));
    let audit = runtime.output(&["audit", agent]);
    print!("{}", String::from_utf8_lossy(&audit.stdout));
    let deleted = runtime
        .output(&["delete", "--force", agent])
        .status
        .success();
    ran.success() && audit.status.success() && deleted
}

/// Runs an agent whose policy asks for a GPU on a node without one: `create` must refuse it
/// with the driver message and leave no state. Returns whether it did.
fn refused_for_want_of_a_gpu(runtime: &Runtime, bundle: &Path, agent: &str) -> bool {
    let out = run_to_files(
        runtime
            .command()
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(agent),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stderr}");
    let refused = !out.status.success() && stderr.contains("NVIDIA");
    println!(
        "=> {} (exit {}): this node has no NVIDIA GPU and the policy asks for inference-only access",
        if refused {
            "refused at create, as it must be"
        } else {
            "NOT refused as expected"
        },
        out.status.code().unwrap_or(-1)
    );
    let nothing_left = runtime.output(&["state", agent]).status.code() == Some(1);
    println!(
        "   container state left behind: {}",
        if nothing_left { "none" } else { "YES" }
    );
    refused && nothing_left
}

/// The payments agent with the node's approval queue running and a stand-in Slack webhook:
/// the demo approves the 250 USD payment as the operator and leaves the 300 USD one to time
/// out. Returns whether every payment got what the policy says.
fn run_payments(world: &EgressWorld, runtime: &Runtime) -> bool {
    let slack = SiemStandIn::start();
    let mut queue = world.start_approvals(&slack.url());
    let socket = world.dir().join("approvals.sock");
    let approvals = |args: &[&str]| operator::approvals(&socket, args);
    // The operator: approves the first held payment of 250 USD, answers nothing else.
    let operator = std::thread::scope(|scope| {
        let operator = scope.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                for id in operator::pending(&socket) {
                    if operator::show(&socket, &id)["request"]["amount"] == 250.0 {
                        let answer = approvals(&["approve", &id, "--note", "known vendor"]);
                        println!(
                            "   [operator] openshell approvals approve {id}: {}",
                            if answer.status.success() {
                                "approved"
                            } else {
                                "FAILED"
                            }
                        );
                        return answer.status.success();
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            false
        });
        let ran = run_agent(world, runtime, "payments");
        ran && operator.join().unwrap_or(false)
    });

    section("openshell approvals list");
    print!("{}", String::from_utf8_lossy(&approvals(&["list"]).stdout));
    section("what Slack received");
    for message in slack.events() {
        println!("{}", message["text"].as_str().unwrap_or("(no text)"));
    }
    let _ = queue.kill();
    let _ = queue.wait();
    operator && !slack.events().is_empty()
}

/// Starts the node's local model (in the node's namespace, on its loopback) and the privacy
/// router with two endpoints: `local`, that model, and `cloud`, the test internet's stand-in
/// cloud model API over HTTPS (its certificate from the test CA the router is told to trust).
fn start_models(world: &EgressWorld) -> (LocalModel, NodeRouter) {
    section("the node's models: llama.cpp's server with SmolLM2 (local), a stand-in cloud API");
    let local_model = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                world.node.enter_current_thread();
                LocalModel::start()
            })
            .join()
            .expect("start the local model")
    });
    println!("local: {} (model {MODEL_ALIAS})", local_model.url());
    println!("cloud: https://{CLOUD_MODEL}/v1");
    let router = NodeRouter::start(
        world,
        &format!(
            "[[endpoints]]\nname = \"local\"\nurl = \"{}\"\nlocal = true\nmodel = \"{MODEL_ALIAS}\"\n\
             [[endpoints]]\nname = \"cloud\"\nurl = \"https://{CLOUD_MODEL}/v1\"\n\
             [tls]\nca_file = \"{}\"\n",
            local_model.url(),
            world.dir().join("test-ca.pem").display()
        ),
    );
    (local_model, router)
}

/// The research assistant's three model calls (see `bundles/research-assistant/agent.sh`),
/// then what the router counted and what the cloud model received. Returns whether each call
/// went where the policy says: the public question to the cloud, the personal data to the local
/// model only, and the direct call nowhere.
fn run_research_assistant(world: &EgressWorld, runtime: &Runtime, router: &NodeRouter) -> bool {
    let ran = run_agent(world, runtime, "research-assistant");

    section("the privacy router's /metrics (routing decisions)");
    let metrics = router.metrics();
    let decisions: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("openshell_router_decisions_total{"))
        .collect();
    for line in &decisions {
        println!("{line}");
    }
    let routed_to = |endpoint: &str| {
        decisions.iter().any(|l| {
            l.contains(&format!("endpoint=\"{endpoint}\""))
                && l.contains("outcome=\"routed\"")
                && !l.ends_with(" 0")
        })
    };

    section("what the stand-in cloud model received");
    let to_cloud: Vec<String> = world
        .recorded
        .requests()
        .into_iter()
        .filter(|r| r.host == CLOUD_MODEL)
        .map(|r| r.body)
        .collect();
    for body in &to_cloud {
        println!("{body}");
    }
    let personal_data_left = to_cloud.iter().any(|b| b.contains("jane.roe"));
    println!(
        "=> {} request(s) reached the cloud; the customer's personal data {}",
        to_cloud.len(),
        if personal_data_left {
            "LEFT THE NODE"
        } else {
            "never left the node"
        }
    );
    ran && routed_to("cloud") && routed_to("local") && to_cloud.len() == 1 && !personal_data_left
}

fn bundles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles")
}

fn section(title: &str) {
    println!("\n=== {title}");
}
