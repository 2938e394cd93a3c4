//! The held calls of one container: each is asked about on its own thread and answered
//! continue (approved) or `EPERM`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, notify_id_valid};

use crate::ask::{Asker, Call};

/// Serves the notifications of `fd` until every process of the filter is gone.
pub fn serve(fd: OwnedFd, container: Call, asker: Arc<Asker>) {
    let fd = Arc::new(fd);
    loop {
        let request = match ScmpNotifReq::receive(fd.as_raw_fd()) {
            Ok(request) => request,
            // The filter's last process exited (or the descriptor broke): nothing more to hold.
            Err(_) => return,
        };
        let fd = Arc::clone(&fd);
        let asker = Arc::clone(&asker);
        let container = container.clone();
        std::thread::spawn(move || {
            let syscall = request
                .data
                .syscall
                .get_name_by_arch(request.data.arch)
                .unwrap_or_else(|_| format!("syscall-{}", i32::from(request.data.syscall)));
            let approved = asker.approved(&container, &syscall, request.pid);
            // The process may have died while the human thought: its id is then invalid.
            if notify_id_valid(fd.as_raw_fd(), request.id).is_err() {
                return;
            }
            let response = if approved {
                ScmpNotifResp::new_continue(request.id, ScmpNotifRespFlags::empty())
            } else {
                ScmpNotifResp::new_error(request.id, -libc::EPERM, ScmpNotifRespFlags::empty())
            };
            if let Err(error) = response.respond(fd.as_raw_fd()) {
                eprintln!(
                    "openshell-supervisor: container {}: answering {syscall}: {error}",
                    container.container_id
                );
            }
        });
    }
}
