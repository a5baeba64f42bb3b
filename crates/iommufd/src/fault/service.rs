//! The descriptors of a fault queue and its service thread: the socket pair, the eventfd
//! that wakes the thread, sending records and reading responses.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{PAGE_RESPONSE_SIZE, Shared};
use crate::error::{Error, Result};

/// A connected pair of Unix stream sockets, close-on-exec and non-blocking: (the user's
/// end, the library's end).
pub(crate) fn socket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    let flags = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: `fds` has room for the two descriptors socketpair(2) writes.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, flags, 0, fds.as_mut_ptr()) };
    if r != 0 {
        return Err(Error::new(
            libc::EMFILE,
            "no socket pair for the fault queue",
        ));
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A new non-blocking eventfd.
pub(super) fn eventfd() -> Result<OwnedFd> {
    // SAFETY: eventfd(2) takes no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(Error::new(libc::EMFILE, "no eventfd for the fault queue"));
    }
    // SAFETY: the descriptor was just created and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Closes descriptor `fd`, which the caller owns.
pub(crate) fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and uses it no more.
    unsafe { libc::close(fd) };
}

/// Wakes the service thread.
pub(super) fn wake(fd: &OwnedFd) {
    let one = 1u64;
    // SAFETY: writes the 8 bytes of `one` to an eventfd this queue owns.
    unsafe { libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8) };
}

/// Sends as much of `outbox` to socket `fd` as it takes now.
pub(super) fn flush(fd: RawFd, outbox: &mut VecDeque<u8>) {
    while !outbox.is_empty() {
        let (a, _) = outbox.as_slices();
        // SAFETY: sends from `a`, a live slice of `a.len()` bytes.
        let n = unsafe {
            libc::send(
                fd,
                a.as_ptr().cast(),
                a.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n <= 0 {
            return;
        }
        outbox.drain(..n as usize);
    }
}

/// The identity (device, inode) of the file `fd` refers to.
pub(crate) fn identity(fd: RawFd) -> Option<(u64, u64)> {
    // SAFETY: an all-zero `stat` is a valid value for fstat(2) to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes one `stat` into `st`.
    let r = unsafe { libc::fstat(fd, &mut st) };
    (r == 0).then_some((st.st_dev, st.st_ino))
}

/// Reads whole records from the user's end `fd` into `buf` (a multiple of the record size
/// long): the bytes read, 0 when none are waiting. `EBADF` if `fd` no longer refers to the
/// socket `id` names (the user closed it).
pub(super) fn read_records(fd: RawFd, id: (u64, u64), buf: &mut [u8]) -> Result<usize> {
    if identity(fd) != Some(id) {
        return Err(Error::new(
            libc::EBADF,
            "the fault queue's descriptor is closed",
        ));
    }
    if buf.is_empty() {
        return Ok(0);
    }
    // SAFETY: receives into `buf`, a live slice of `buf.len()` bytes.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_WAITALL,
        )
    };
    if n < 0 {
        let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if e == libc::EAGAIN || e == libc::EWOULDBLOCK {
            return Ok(0);
        }
        return Err(Error::new(
            libc::EBADF,
            "the fault queue's descriptor is closed",
        ));
    }
    Ok(n as usize)
}

/// Sends the responses in `buf` on the user's end `fd` (the socket `id` names), as a
/// `write` of it does: the bytes taken; `EAGAIN` when none fit now, `EBADF` once closed.
pub(super) fn forward(fd: RawFd, id: (u64, u64), buf: &[u8]) -> Result<usize> {
    let closed = || Error::new(libc::EBADF, "the fault queue's descriptor is closed");
    if identity(fd) != Some(id) {
        return Err(closed());
    }
    // SAFETY: sends from `buf`, a live slice of `buf.len()` bytes.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if e == libc::EAGAIN || e == libc::EWOULDBLOCK {
            return Err(Error::new(
                libc::EAGAIN,
                "the fault queue takes no response now",
            ));
        }
        return Err(closed());
    }
    Ok(n as usize)
}

/// The service thread: sends what the socket did not take, takes the user's responses, and
/// notices the user closing its end; returns when the queue is dropped.
pub(super) fn run(s: &Shared) {
    let ours = s.ours.as_raw_fd();
    let mut buf = [0u8; 4096];
    loop {
        let (want_out, stop) = {
            let st = s.st.lock();
            (!st.outbox.is_empty(), st.stop)
        };
        if stop {
            return;
        }
        let mut fds = [
            libc::pollfd {
                fd: ours,
                events: libc::POLLIN | if want_out { libc::POLLOUT } else { 0 },
                revents: 0,
            },
            libc::pollfd {
                fd: s.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is an array of two pollfds, as the count says.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            continue;
        }
        // What follows takes the library's locks: not while the process forks.
        let _inside = crate::quiesce::enter();
        if fds[1].revents & libc::POLLIN != 0 {
            let mut v = 0u64;
            // SAFETY: reads 8 bytes into `v`, which has 8.
            unsafe { libc::read(s.wake.as_raw_fd(), (&raw mut v).cast(), 8) };
        }
        if fds[0].revents & libc::POLLOUT != 0 {
            flush(ours, &mut s.st.lock().outbox);
        }
        if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            // SAFETY: receives into `buf`, a live array of its length.
            let n =
                unsafe { libc::recv(ours, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n > 0 {
                take_responses(s, &buf[..n as usize]);
            } else if n == 0 || fds[0].revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                user_closed(s);
                return;
            }
        }
    }
}

/// Answers the whole responses among `bytes` (and what an earlier read left over); a
/// response the kernel would refuse is dropped, as the socket cannot return the error.
fn take_responses(s: &Shared, bytes: &[u8]) {
    let records: Vec<[u8; PAGE_RESPONSE_SIZE]> = {
        let mut st = s.st.lock();
        st.inbox.extend_from_slice(bytes);
        let whole = st.inbox.len() / PAGE_RESPONSE_SIZE * PAGE_RESPONSE_SIZE;
        let taken: Vec<u8> = st.inbox.drain(..whole).collect();
        taken
            .chunks_exact(PAGE_RESPONSE_SIZE)
            .map(|c| {
                let mut r = [0u8; PAGE_RESPONSE_SIZE];
                r.copy_from_slice(c);
                r
            })
            .collect()
    };
    for r in records {
        let cookie = u32::from_ne_bytes([r[0], r[1], r[2], r[3]]);
        let code = u32::from_ne_bytes([r[4], r[5], r[6], r[7]]);
        let _ = s.respond(cookie, code);
    }
}

/// The user closed its descriptor: what was delivered is answered Invalid, as the kernel
/// does when the file is released, and later groups are answered Invalid at once.
fn user_closed(s: &Shared) {
    {
        let mut st = s.st.lock();
        st.user_closed = true;
        st.outbox.clear();
    }
    s.answer_invalid_where(|_| true);
}
