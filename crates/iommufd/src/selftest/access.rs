//! The test channel's accesses (`CREATE_ACCESS`, `ACCESS_PAGES`, `DESTROY_ACCESS_PAGES`,
//! `ACCESS_RW`, `ACCESS_REPLACE_IOAS`): an [`Access`] to an IOAS behind a file descriptor of
//! its own, as the kernel's emulated-device driver of the mock has, with the pins it made
//! kept as numbered items that the access's unmap callback drops.
//!
//! The descriptor is one end of a Unix stream socket pair whose other end the mock keeps.
//! Closing it destroys the access: the mock notices at the next test-channel call (and when
//! the host counts its pins), since no call of the library runs at a user's `close()`.

use std::collections::HashMap;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use parking_lot::Mutex;

use super::Mock;
use super::cmd::TestCmd;
use super::pages::Maps;
use crate::access::{ACCESS_NEEDS_PIN_PAGES, Access, AccessOps};
use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::fault::service;
use crate::host::PAGE_SIZE;
use crate::uapi::{Ucmd, read_user, write_user};

/// `MOCK_FLAGS_ACCESS_WRITE`: `ACCESS_PAGES` pins for writing.
const ACCESS_WRITE: u32 = 1 << 0;
/// `MOCK_ACCESS_RW_WRITE`: `ACCESS_RW` writes (otherwise reads).
const RW_WRITE: u32 = 1 << 0;
/// `MOCK_ACCESS_RW_SLOW_PATH`: `ACCESS_RW` through the page-at-a-time path.
const RW_SLOW_PATH: u32 = 1 << 2;
/// The most bytes one `ACCESS_PAGES` or `ACCESS_RW` takes (more is `ENOMEM`).
const MAX_LENGTH: u64 = 16 << 20;

/// One pin of an access: its id and range.
struct Item {
    id: u32,
    iova: u64,
    length: u64,
}

/// The pins an access holds, numbered; what its unmap callback drops.
#[derive(Default)]
struct Items {
    next_id: u32,
    list: Vec<Item>,
}

/// The owner side of a test access: its items, which its unmap callback unpins.
#[derive(Default)]
struct Owner {
    items: Mutex<Items>,
}

impl AccessOps for Owner {
    fn unmap(&self, access: &Access, iova: u64, length: u64) {
        let last = iova.saturating_add(length.saturating_sub(1));
        let mut items = self.items.lock();
        items.list.retain(|it| {
            let it_last = it.iova + (it.length - 1);
            if iova > it_last || last < it.iova {
                return true;
            }
            // The item was made by a successful pin of exactly this range.
            let _ = access.unpin_pages(it.iova, it.length);
            false
        });
    }
}

/// An access of the test channel and its descriptor.
pub(super) struct TestAccess {
    access: Arc<Access>,
    owner: Arc<Owner>,
    /// The mock's end of the socket pair.
    _ours: OwnedFd,
    /// What the user's end is (device, inode), to tell it from a later file of that number.
    user_id: (u64, u64),
}

impl TestAccess {
    /// Drops every item and destroys the access.
    fn destroy(&self) {
        self.owner.unmap(&self.access, 0, u64::MAX);
        self.access.destroy();
    }
}

/// The accesses of the test channel, by the user's descriptor.
pub(super) type Accesses = Mutex<HashMap<RawFd, Arc<TestAccess>>>;

impl Mock {
    /// Destroys the accesses whose descriptor the user has closed.
    pub(super) fn sweep_accesses(&self) {
        let gone: Vec<Arc<TestAccess>> = {
            let mut map = self.accesses.lock();
            let closed: Vec<RawFd> = map
                .iter()
                .filter(|(fd, a)| service::identity(**fd) != Some(a.user_id))
                .map(|(fd, _)| *fd)
                .collect();
            closed.iter().filter_map(|fd| map.remove(fd)).collect()
        };
        for a in gone {
            a.destroy();
        }
    }

    /// The access behind descriptor `fd`: `EBADFD` for any other file.
    fn access(&self, fd: u32) -> Result<Arc<TestAccess>> {
        self.sweep_accesses();
        let Ok(fd) = RawFd::try_from(fd) else {
            return err(libc::EBADFD, "not an access file");
        };
        self.accesses
            .lock()
            .get(&fd)
            .cloned()
            .ok_or(Error::new(libc::EBADFD, "not an access file"))
    }
}

fn mock(ctx: &Context) -> Result<&Mock> {
    ctx.host()
        .mock
        .as_ref()
        .ok_or(Error::new(libc::ENOTTY, "no test channel on this host"))
}

/// `CREATE_ACCESS` on IOAS `c.id()`: answers the access's new descriptor.
pub(super) fn create(ctx: &Context, u: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let flags = c.u32(4);
    if flags & !ACCESS_NEEDS_PIN_PAGES != 0 {
        return err(libc::EOPNOTSUPP, "unknown access flags");
    }
    let mock = mock(ctx)?;
    let owner = Arc::new(Owner::default());
    let access = ctx.access_create(c.id(), flags, owner.clone())?;
    let made = (|| {
        let (user, ours) = service::socket_pair()?;
        let user_id = service::identity(std::os::fd::AsRawFd::as_raw_fd(&user))
            .ok_or(Error::new(libc::EMFILE, "no socket pair"))?;
        c.set_u32(0, std::os::fd::AsRawFd::as_raw_fd(&user) as u32);
        u.respond_bytes(ctx, c.bytes())?;
        Ok((user, ours, user_id))
    })();
    let (user, ours, user_id) = match made {
        Ok(m) => m,
        Err(e) => {
            access.destroy();
            return Err(e);
        }
    };
    let fd = user.into_raw_fd();
    let t = Arc::new(TestAccess {
        access,
        owner,
        _ours: ours,
        user_id,
    });
    mock.accesses.lock().insert(fd, t);
    Ok(0)
}

/// `ACCESS_PAGES`: pins `length` bytes at `iova` through access `c.id()`; the pages must be
/// those of the user's memory at `uptr` (`EBADE`), unless `uptr` is 0. Answers the item id.
pub(super) fn pages(ctx: &Context, u: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (flags, iova, length, uptr) = (c.u32(0), c.u64(8), c.u64(16), c.u64(24));
    if length > MAX_LENGTH {
        return err(libc::ENOMEM, "more than 16 MiB");
    }
    if flags & !ACCESS_WRITE != 0 {
        return err(libc::EOPNOTSUPP, "unknown access-pages flags");
    }
    let t = mock(ctx)?.access(c.id())?;
    if !t.access.pin_capable() {
        return err(libc::EOPNOTSUPP, "the access does not pin pages");
    }
    // The items stay locked across the pin, so that an unmap waits for the item.
    let mut items = t.owner.items.lock();
    let addrs = t
        .access
        .pin_pages(iova, length, flags & ACCESS_WRITE != 0)?;
    let checked = (|| {
        if uptr == 0 {
            return Ok(());
        }
        let first = uptr.wrapping_sub(iova % PAGE_SIZE);
        let mut maps = None;
        for (i, &a) in addrs.iter().enumerate() {
            let want = first.wrapping_add(i as u64 * PAGE_SIZE);
            ctx.host()
                .mem()
                .check_mapped(want, PAGE_SIZE)
                .map_err(|_| Error::new(libc::EFAULT, "the user memory is not mapped"))?;
            if a != want && !maps.get_or_insert_with(Maps::read).same_page(a, want) {
                return err(libc::EBADE, "the pages are not the user memory's");
            }
        }
        Ok(())
    })();
    let id = items.next_id;
    let answered = checked.and_then(|()| {
        c.set_u32(4, id);
        u.respond_bytes(ctx, c.bytes())
    });
    if let Err(e) = answered {
        let _ = t.access.unpin_pages(iova, length);
        return Err(e);
    }
    items.next_id = items.next_id.wrapping_add(1);
    items.list.push(Item { id, iova, length });
    Ok(0)
}

/// `DESTROY_ACCESS_PAGES`: drops item `access_pages_id` of access `c.id()`; `ENOENT` if
/// there is none (the unmap callback may have dropped it).
pub(super) fn destroy_pages(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let t = mock(ctx)?.access(c.id())?;
    let item_id = c.u32(0);
    let mut items = t.owner.items.lock();
    let Some(i) = items.list.iter().position(|it| it.id == item_id) else {
        return err(libc::ENOENT, "no such access item");
    };
    let it = items.list.swap_remove(i);
    drop(items);
    t.access.unpin_pages(it.iova, it.length).map(|()| 0)
}

/// `ACCESS_RW`: copies `length` bytes between the user's memory at `uptr` and IOVA `iova`
/// through access `c.id()`.
pub(super) fn rw(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let (iova, length, uptr, flags) = (c.u64(0), c.u64(8), c.u64(16), c.u32(24));
    if length > MAX_LENGTH {
        return err(libc::ENOMEM, "more than 16 MiB");
    }
    if flags & !(RW_WRITE | RW_SLOW_PATH) != 0 {
        return err(libc::EOPNOTSUPP, "unknown access-rw flags");
    }
    let t = mock(ctx)?.access(c.id())?;
    let mut buf = vec![0u8; length as usize];
    if flags & RW_WRITE != 0 {
        read_user(ctx, uptr, &mut buf)?;
        t.access.write(iova, &buf)?;
    } else {
        t.access.read(iova, &mut buf)?;
        write_user(ctx, uptr, &buf)?;
    }
    Ok(0)
}

/// `ACCESS_REPLACE_IOAS`: moves access `c.id()` to IOAS `ioas_id`.
pub(super) fn replace_ioas(ctx: &Context, _: &Ucmd, c: &mut TestCmd) -> Result<i64> {
    let t = mock(ctx)?.access(c.id())?;
    ctx.access_replace_ioas(&t.access, c.u32(0)).map(|()| 0)
}
