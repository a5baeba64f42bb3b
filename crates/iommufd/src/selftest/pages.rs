//! Whether two addresses of this process reach the same page, as the kernel's mock compares
//! `struct page`s: equal addresses, or two mappings of one file (the library maps a file the
//! user mapped through a shared mapping of its own) at the same offset.

/// One file-backed mapping of this process.
struct FileMap {
    start: u64,
    end: u64,
    offset: u64,
    dev: String,
    inode: u64,
}

/// The file-backed mappings of this process, read once for a call.
pub(super) struct Maps(Vec<FileMap>);

impl Maps {
    /// The process's mappings now (none if they cannot be read).
    pub(super) fn read() -> Maps {
        let text = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        Maps(text.lines().filter_map(parse).collect())
    }

    /// The file page at `addr`: (device, inode, offset in the file).
    fn file_page(&self, addr: u64) -> Option<(&str, u64, u64)> {
        let m = self.0.iter().find(|m| m.start <= addr && addr < m.end)?;
        Some((m.dev.as_str(), m.inode, m.offset + (addr - m.start)))
    }

    /// Whether `a` and `b` reach the same page.
    pub(super) fn same_page(&self, a: u64, b: u64) -> bool {
        if a == b {
            return true;
        }
        match (self.file_page(a), self.file_page(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
    }
}

/// A line `start-end perms offset dev inode [path]` of a file-backed mapping.
fn parse(line: &str) -> Option<FileMap> {
    let mut f = line.split_whitespace();
    let (start, end) = f.next()?.split_once('-')?;
    let _perms = f.next()?;
    let offset = u64::from_str_radix(f.next()?, 16).ok()?;
    let dev = f.next()?.to_string();
    let inode: u64 = f.next()?.parse().ok()?;
    if inode == 0 {
        return None;
    }
    Some(FileMap {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        offset,
        dev,
        inode,
    })
}
