//! The kernel's binary interface: an ioctl number and a pointer to the caller's structure,
//! framed as `/dev/iommu` frames them, answered by the typed calls of [`Context`].

mod fault;
mod hwpt;
mod ioas;
pub(crate) mod pod;

use crate::context::Context;
use crate::error::{Error, Result, err};
use crate::host::Host;
use pod::Pod;

/// The ioctl type of `/dev/iommu` (`';'`): command `nr` is `_IO(';', nr)`.
pub const IOMMUFD_TYPE: u32 = b';' as u32;

/// The ioctl number of iommufd command `nr` (`IOMMUFD_CMD_*`).
pub const fn iommufd_ioctl(nr: u32) -> u32 {
    (IOMMUFD_TYPE << 8) | nr
}

/// A command's structure: its size in this interface and the smallest size a caller may pass.
struct Op {
    nr: u32,
    size: usize,
    min: usize,
    run: fn(&Context, &mut Ucmd) -> Result<i64>,
}

/// One call in progress: the caller's pointer and size, and the structure as read.
pub(crate) struct Ucmd {
    pub(crate) arg: u64,
    user_size: u32,
    /// The structure's bytes as read, zero past what the caller's size holds.
    buf: [u8; UCMD_BYTES],
}

/// Room for the largest structure of the command table.
const UCMD_BYTES: usize = 128;

const _: () = {
    let mut i = 0;
    while i < OPS.len() {
        assert!(
            OPS[i].size <= UCMD_BYTES,
            "a command's structure outgrows Ucmd"
        );
        i += 1;
    }
};

impl Ucmd {
    /// The command's structure.
    pub(crate) fn cmd<T: Pod>(&self) -> T {
        pod::decode(&self.buf)
    }

    /// The command's structure as bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Copies `bytes` (the structure) back to the caller, as much as the caller's size holds.
    pub(crate) fn respond_bytes(&self, ctx: &Context, bytes: &[u8]) -> Result<()> {
        let n = bytes.len().min(self.user_size as usize);
        write_user(ctx, self.arg, &bytes[..n])
    }

    /// Copies `v` back to the caller, as much of it as the caller's size holds.
    pub(crate) fn respond<T: Pod>(&self, ctx: &Context, v: &T) -> Result<()> {
        let bytes = pod::encode(v);
        let n = bytes.len().min(self.user_size as usize);
        write_user(ctx, self.arg, &bytes[..n])
    }
}

/// Reads the caller's memory at `addr`: `EFAULT` where it is not mapped.
pub(crate) fn read_user(ctx: &Context, addr: u64, buf: &mut [u8]) -> Result<()> {
    read_host(ctx.host(), addr, buf)
}

/// Writes the caller's memory at `addr`: `EFAULT` where it is not mapped.
pub(crate) fn write_user(ctx: &Context, addr: u64, buf: &[u8]) -> Result<()> {
    write_host(ctx.host(), addr, buf)
}

/// Reads memory of `host`'s process at `addr`: `EFAULT` where it is not mapped.
pub(crate) fn read_host(host: &Host, addr: u64, buf: &mut [u8]) -> Result<()> {
    use softiommu_mem::AddressSpace;
    if host.mem().is_private(addr, buf.len() as u64) {
        return err(libc::EFAULT, "bad address");
    }
    host.mem()
        .read(addr, buf)
        .map_err(|_| Error::new(libc::EFAULT, "bad address"))
}

/// Writes memory of `host`'s process at `addr`: `EFAULT` where it is not mapped.
pub(crate) fn write_host(host: &Host, addr: u64, buf: &[u8]) -> Result<()> {
    use softiommu_mem::AddressSpace;
    if host.mem().is_private(addr, buf.len() as u64) {
        return err(libc::EFAULT, "bad address");
    }
    host.mem()
        .write(addr, buf)
        .map_err(|_| Error::new(libc::EFAULT, "bad address"))
}

/// Reads one `T` from the caller's memory.
pub(crate) fn read_struct<T: Pod>(ctx: &Context, addr: u64) -> Result<T> {
    let mut b = vec![0u8; std::mem::size_of::<T>()];
    read_user(ctx, addr, &mut b)?;
    Ok(pod::decode(&b))
}

/// The commands, by number. Numbers inside the range without an entry are `ENOTTY`.
const OPS: &[Op] = &[
    Op {
        nr: 0x80,
        size: 8,
        min: 8,
        run: ioas::destroy,
    },
    Op {
        nr: 0x81,
        size: 12,
        min: 12,
        run: ioas::alloc,
    },
    Op {
        nr: 0x82,
        size: 24,
        min: 24,
        run: ioas::allow_iovas,
    },
    Op {
        nr: 0x83,
        size: 40,
        min: 40,
        run: ioas::copy,
    },
    Op {
        nr: 0x84,
        size: 32,
        min: 32,
        run: ioas::iova_ranges,
    },
    Op {
        nr: 0x85,
        size: 40,
        min: 40,
        run: ioas::map,
    },
    Op {
        nr: 0x86,
        size: 24,
        min: 24,
        run: ioas::unmap,
    },
    Op {
        nr: 0x87,
        size: 24,
        min: 24,
        run: ioas::option,
    },
    Op {
        nr: 0x88,
        size: 12,
        min: 12,
        run: crate::vfio::vfio_ioas,
    },
    Op {
        nr: 0x89,
        size: 48,
        min: 24,
        run: hwpt::alloc,
    },
    Op {
        nr: 0x8a,
        size: 40,
        min: 32,
        run: hwpt::get_hw_info,
    },
    Op {
        nr: 0x8b,
        size: 16,
        min: 16,
        run: hwpt::set_dirty_tracking,
    },
    Op {
        nr: 0x8c,
        size: 48,
        min: 48,
        run: hwpt::get_dirty_bitmap,
    },
    Op {
        nr: 0x8d,
        size: 32,
        min: 32,
        run: hwpt::invalidate,
    },
    Op {
        nr: 0x8e,
        size: 16,
        min: 16,
        run: fault::fault_queue_alloc,
    },
    Op {
        nr: 0x8f,
        size: 40,
        min: 40,
        run: ioas::map_file,
    },
    Op {
        nr: 0x90,
        size: 40,
        min: 24,
        run: hwpt::viommu_alloc,
    },
    Op {
        nr: 0x91,
        size: 24,
        min: 24,
        run: hwpt::vdevice_alloc,
    },
    Op {
        nr: 0x93,
        size: 32,
        min: 28,
        run: fault::veventq_alloc,
    },
    Op {
        nr: crate::selftest::TEST_CMD_NR,
        size: 72,
        min: 68,
        run: crate::selftest::test_cmd,
    },
];

/// The first command number; numbers outside the table belong to VFIO's container
/// interface.
const CMD_BASE: u32 = 0x80;
/// One past the last command number of the kernel's table (`IOMMU_TEST_CMD` is 0xa0).
const CMD_END: u32 = 0xa1;

/// Bytes the trailing-zero check reads at a time.
const TAIL_CHUNK: usize = 4096;

impl Context {
    /// `ioctl(fd, cmd, arg)` on this context's `/dev/iommu` file: `arg` is the address of the
    /// caller's structure in this process. Returns what the system call returns on success;
    /// on failure, the errno.
    ///
    /// The framing is the kernel's: the leading `u32 size` is read first (`EFAULT` if `arg`
    /// is bad), a size under the command's minimum is `EINVAL`, bytes past the structure this
    /// interface knows must be zero (`E2BIG`), and the answer is copied back up to the
    /// caller's size. Unknown commands are `ENOTTY`.
    pub fn ioctl(&self, cmd: u64, arg: u64) -> Result<i64> {
        // The kernel's ioctl command is an `unsigned int`.
        let cmd = cmd as u32;
        let nr = cmd & 0xff;
        // Without the mock IOMMU the test command is unknown, as in a kernel built without
        // CONFIG_IOMMUFD_TEST.
        let test_off = nr == crate::selftest::TEST_CMD_NR && self.host().mock.is_none();
        if !(CMD_BASE..CMD_END).contains(&nr) || test_off {
            return crate::vfio::container_ioctl(self, cmd, arg);
        }
        let op = OPS.iter().find(|o| o.nr == nr);
        let mut buf = [0u8; UCMD_BYTES];
        // The common case reads the whole structure at once; where that faults, the size is
        // read alone first, as the kernel reads it, so that the errors come in its order.
        // Every size in the table fits (checked when the crate is built).
        let whole = op.is_some_and(|o| read_user(self, arg, &mut buf[..o.size]).is_ok());
        if !whole {
            read_user(self, arg, &mut buf[..4])?;
        }
        let user_size = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let Some(op) = op else {
            return err(libc::ENOTTY, "no such iommufd command");
        };
        if cmd != iommufd_ioctl(nr) {
            return err(libc::ENOTTY, "not an iommufd command");
        }
        if (user_size as usize) < op.min {
            return err(libc::EINVAL, "structure size under the command's minimum");
        }
        let have = op.size.min(user_size as usize);
        if whole {
            // Bytes past the caller's size are not the caller's structure: zero, as if unread.
            buf[have..op.size].fill(0);
        } else {
            read_user(self, arg, &mut buf[..have])?;
        }
        self.check_zero_tail(arg, op.size as u64, u64::from(user_size))?;
        let mut ucmd = Ucmd {
            arg,
            user_size,
            buf,
        };
        (op.run)(self, &mut ucmd)
    }

    /// Checks that the caller's bytes `[from, to)` past the structure are zero: `E2BIG`.
    fn check_zero_tail(&self, arg: u64, from: u64, to: u64) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let mut at = from;
        let mut chunk = [0u8; TAIL_CHUNK];
        while at < to {
            let n = (to - at).min(TAIL_CHUNK as u64) as usize;
            let Some(addr) = arg.checked_add(at) else {
                return err(libc::EFAULT, "bad address");
            };
            read_user(self, addr, &mut chunk[..n])?;
            if chunk[..n].iter().any(|&b| b != 0) {
                return err(libc::E2BIG, "non-zero bytes past the structure");
            }
            at += n as u64;
        }
        Ok(())
    }
}
