/*
   Copyright The containerd Authors.

   Licensed under the Apache License, Version 2.0 (the "License");
   you may not use this file except in compliance with the License.
   You may obtain a copy of the License at

       http://www.apache.org/licenses/LICENSE-2.0

   Unless required by applicable law or agreed to in writing, software
   distributed under the License is distributed on an "AS IS" BASIS,
   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
   See the License for the specific language governing permissions and
   limitations under the License.
*/

//! `containerd-shim-openshell-v2`: containerd's shim v2 for the runtime type
//! `io.containerd.openshell.v2`. It serves containerd's task API (create, start, exec,
//! pause/resume, kill, delete, wait, stats, update, events, OOM events) and carries each
//! operation out with the `openshell` binary installed next to it, through its runc-compatible
//! command line. Like `containerd-shim-runc-v2`, one shim serves every container of a pod
//! sandbox (grouped by the CRI's `io.kubernetes.cri.sandbox-id` annotation).
//!
//! Adapted from containerd/rust-extensions' `containerd-runc-shim` 0.2.0 (Apache-2.0), on
//! `containerd-shim` 0.11: the last release that serves the task v2 API containerd 1.6 and 1.7
//! call (0.12 serves containerd 2's task v3 only). Its stdio copying (`stdio`) comes from
//! `containerd-shim` 0.12.

use std::env;

use containerd_shim::{asynchronous::run, parse};

mod cgroup_memory;
mod common;
mod console;
mod container;
mod processes;
mod runc;
mod service;
mod stdio;
mod task;

use service::Service;

/// The runtime type containerd is configured with; it maps it to this binary's name.
const RUNTIME_ID: &str = "io.containerd.openshell.v2";

fn parse_version() {
    let os_args: Vec<_> = env::args_os().collect();
    let flags = match parse(&os_args[1..]) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("Error parsing arguments: {}", e);
            std::process::exit(1);
        }
    };
    if flags.version {
        println!("{}:", os_args[0].to_string_lossy());
        println!("  Version: {}", env!("CARGO_PKG_VERSION"));
        println!("  Runtime: {}", common::default_runtime().display());
        println!();

        std::process::exit(0);
    }
}

#[tokio::main]
async fn main() {
    parse_version();
    run::<Service>(RUNTIME_ID, None).await;
}
