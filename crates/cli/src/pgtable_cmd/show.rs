//! What `softiommu pgtable` prints about a table: its format, walks, and figures.

use std::io::{self, Write};

use softiommu_mem::AddressSpace;
use softiommu_pgtable::{Access, FaultKind, Format, PageTable, Pte};

use softiommu_cli::parse::{human_size, prot_arg};

/// One line on the format: levels, widths, page sizes.
pub fn print_format<F: Format>(fmt: &F, out: &mut dyn Write) -> io::Result<()> {
    let geo = fmt.geometry();
    let pages: Vec<String> = geo.page_sizes().map(human_size).collect();
    writeln!(
        out,
        "format {}: {} levels, {}-bit input, {}-bit output, {} granule, pages {}",
        fmt.name(),
        geo.depth(),
        geo.ia_bits(),
        geo.oa_bits(),
        human_size(geo.granule()),
        pages.join(" ")
    )
}

/// The walk for `iova`, level by level, its result, and the checked walk for `access`.
pub fn print_walk<F: Format, M: AddressSpace>(
    pt: &PageTable<F, M>,
    iova: u64,
    access: Option<Access>,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "walk {iova:#x}")?;
    let steps = pt.trace(iova);
    for s in &steps {
        writeln!(
            out,
            "  level {}  entry {:<13} {:#018x}  {}",
            s.number,
            format!("{:#x}", s.entry_pa),
            s.raw,
            s.fields
        )?;
    }
    let result = match (pt.lookup(iova), steps.last()) {
        (Some(m), _) => {
            let off = iova.wrapping_sub(m.iova);
            format!(
                "=> {:#x}  ({} page {:#x} -> {:#x}, {})",
                m.pa | off,
                human_size(m.size),
                m.iova,
                m.pa,
                prot_arg(m.prot)
            )
        }
        (None, None) => format!(
            "=> outside the {}-bit input range: not translated",
            pt.format().geometry().ia_bits()
        ),
        (None, Some(last)) => match last.pte {
            Pte::Reserved => format!(
                "=> fault: level {} entry has reserved bits set",
                last.number
            ),
            _ => format!("=> not mapped (level {} entry not present)", last.number),
        },
    };
    writeln!(out, "  {result}")?;
    if let Some(a) = access {
        let kind = match (a.write, a.exec) {
            (true, _) => "write",
            (_, true) => "exec",
            _ => "read",
        };
        let who = if a.privileged { "privileged" } else { "user" };
        match pt.translate(iova, a) {
            Ok(t) => writeln!(
                out,
                "  {who} {kind}: allowed => {:#x}, {} page, rights {:?}",
                t.pa,
                human_size(t.page_size),
                t.perm
            )?,
            Err(f) => writeln!(
                out,
                "  {who} {kind}: {} at level {} (entry {:#x})",
                fault_name(f.kind),
                f.number,
                f.entry
            )?,
        }
    }
    Ok(())
}

/// A walk fault's kind, in words.
fn fault_name(kind: FaultKind) -> String {
    match kind {
        FaultKind::Input => "input-range fault".into(),
        FaultKind::Translation => "translation fault".into(),
        FaultKind::Reserved => "reserved-bit fault".into(),
        FaultKind::AccessFlag => "access-flag fault".into(),
        FaultKind::Permission => "permission fault".into(),
        FaultKind::AddressSize => "address-size fault".into(),
        FaultKind::Fetch(e) => format!("fetch fault ({e})"),
        FaultKind::Update => "accessed/dirty update fault".into(),
    }
}

/// The table's figures: root, leaves of each page size, table pages and bytes.
pub fn print_stats<F: Format, M: AddressSpace>(
    pt: &PageTable<F, M>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let st = pt.stats();
    writeln!(out, "table")?;
    writeln!(out, "  {:<13} {:#x}", "root", pt.root())?;
    let mut mapped = 0u64;
    for &(size, count) in &st.pages {
        writeln!(
            out,
            "  {:<13} {count}",
            format!("{} leaves", human_size(size))
        )?;
        mapped = mapped.saturating_add(size.saturating_mul(count));
    }
    writeln!(out, "  {:<13} {}", "mapped", human_size(mapped))?;
    writeln!(
        out,
        "  {:<13} {} ({}, {} bytes)",
        "table pages",
        st.tables,
        human_size(st.table_bytes),
        st.table_bytes
    )
}
