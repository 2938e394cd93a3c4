//! Time to compute GPU edits per access level against a fake driver root (needs CAP_MKNOD).
//!
//! `cargo bench -p openshell-gpu --bench compile` prints the median and p99 of `compile` per
//! level; the runtime pays this once per `create` of a container whose policy grants GPUs.

use std::time::{Duration, Instant};

use openshell_gpu::testing::{FakeDriverRoot, sample_inventory};
use openshell_gpu::{AccessLevel, FakeInventory, GpuRequest, SelectionInput, compile};

const ITERATIONS: usize = 500;

fn main() {
    let root =
        FakeDriverRoot::new(&sample_inventory()).expect("fake driver root (needs CAP_MKNOD)");
    let inventory = FakeInventory::new(sample_inventory()).expect("sample inventory is valid");
    let roots = root.roots();
    for (access, annotation) in [
        (AccessLevel::None, "0"),
        (AccessLevel::InferenceOnly, "0"),
        (AccessLevel::InferenceOnly, "1:0,1:1"),
        (AccessLevel::Full, "all"),
    ] {
        let request = GpuRequest {
            access,
            selection: SelectionInput {
                annotation: Some(annotation),
                ..Default::default()
            },
        };
        let mut samples: Vec<Duration> = (0..ITERATIONS)
            .map(|_| {
                let start = Instant::now();
                compile(&request, &inventory, &roots).expect("compile");
                start.elapsed()
            })
            .collect();
        samples.sort_unstable();
        println!(
            "compile {:<14} gpus={annotation:<8} median {:>9.1?}  p99 {:>9.1?}",
            access.as_str(),
            samples[ITERATIONS / 2],
            samples[ITERATIONS * 99 / 100]
        );
    }
}
