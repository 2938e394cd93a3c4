//! The receiving end of the runtime's `SCM_RIGHTS` hand-overs (`--console-socket`, a seccomp
//! `listenerPath`): accept one connection, return the message and the fd it carried.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

/// Accepts one connection on `listener` and returns the bytes of its first message and the
/// first fd sent with it. Panics if no fd came (the tests' failure).
pub fn accept_fd(listener: &UnixListener) -> (Vec<u8>, OwnedFd) {
    let (stream, _) = listener.accept().expect("accept");
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let fd = msg
        .cmsgs()
        .expect("control messages")
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("the runtime sent an fd");
    let len = msg.bytes;
    buf.truncate(len);
    // SAFETY: the fd was just received over SCM_RIGHTS and is owned by nobody else.
    (buf, unsafe { OwnedFd::from_raw_fd(fd) })
}
