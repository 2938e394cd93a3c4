use std::fs;
use std::path::Path;

use nix::unistd::Pid;

use crate::common::{self, CGROUP_PROCS, ControllerOpt, WrapIoResult, WrappedIoError};

pub(super) trait Controller {
    type Error: From<WrappedIoError>;
    type Resource;

    /// Adds a new task specified by its pid to the cgroup
    fn add_task(pid: Pid, cgroup_path: &Path) -> Result<(), Self::Error> {
        fs::create_dir_all(cgroup_path).wrap_create_dir(cgroup_path)?;
        write_task(cgroup_path, pid)?;
        Ok(())
    }

    /// Applies resource restrictions to the cgroup
    fn apply(controller_opt: &ControllerOpt, cgroup_root: &Path) -> Result<(), Self::Error>;

    /// Checks if the controller needs to handle this request
    fn needs_to_handle<'a>(controller_opt: &'a ControllerOpt) -> Option<&'a Self::Resource>;
}

/// Where a cgroup's members are moved in by thread: pid 0 there is the calling thread.
const CGROUP_TASKS: &str = "tasks";

/// Moves `pid` into the cgroup at `cgroup_path`: its whole thread group through `cgroup.procs`,
/// or, for pid 0, the caller's only thread through `tasks`. The kernel (6.0 and later) moves
/// the calling thread without the global lock a thread-group move takes for writing, which
/// waits for an RCU grace period whenever it was idle (milliseconds of every start on a VM);
/// moving a process's only thread moves the process.
pub(super) fn write_task(cgroup_path: &Path, pid: Pid) -> Result<(), WrappedIoError> {
    let file = if pid.as_raw() == 0 {
        CGROUP_TASKS
    } else {
        CGROUP_PROCS
    };
    common::write_cgroup_file(cgroup_path.join(file), pid)
}
