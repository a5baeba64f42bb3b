//! `IOMMU_GET_HW_INFO` through the binary interface: the driver blobs checked field by field
//! against the specifications' register layouts, truncation and zero-fill by `data_len`, the
//! capabilities and the PASID width.

mod common;

use common::{call, smmu, vtd};
use iommufd_bindings as k;
use softiommu_iommufd::{
    Context, HW_CAP_DIRTY_TRACKING, HW_CAP_PCI_ATS_NOT_SUPPORTED, HW_INFO_FLAG_INPUT_TYPE,
    HW_INFO_TYPE_ARM_SMMUV3, HW_INFO_TYPE_INTEL_VTD,
};

/// Calls GET_HW_INFO for `dev` with a `len`-byte buffer prefilled with 0xee.
fn hw_info(
    ctx: &Context,
    dev: u32,
    len: usize,
    flags: u32,
) -> (Result<i64, i32>, k::iommu_hw_info, Vec<u8>) {
    let buf = vec![0xeeu8; len.max(1)];
    let mut c = k::iommu_hw_info {
        size: 40,
        flags,
        dev_id: dev,
        data_len: len as u32,
        data_uptr: buf.as_ptr() as u64,
        ..Default::default()
    };
    let r = call(ctx, 0x8a, &mut c);
    (r, c, buf)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

#[test]
fn vtd_reports_cap_and_ecap_with_their_fields() {
    let p = vtd(1);
    let ctx = p.context(1 << 20);
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    let (r, c, b) = hw_info(&ctx, dev, 24, 0);
    r.unwrap();
    // SAFETY: a `u32` either way.
    assert_eq!(
        unsafe { c.__bindgen_anon_1.out_data_type },
        HW_INFO_TYPE_INTEL_VTD
    );
    assert_eq!(c.data_len, 24);
    assert_eq!(u32_at(&b, 0), 0, "flags");
    let (cap, ecap) = (u64_at(&b, 8), u64_at(&b, 16));
    // CAP: ND 2:0 (16-bit domain ids: 6), SAGAW 12:8 (39- and 48-bit: 0b00110),
    // MGAW 21:16 (47), FS1GP 56, FS5LP 60.
    assert_eq!(cap & 7, 6);
    assert_eq!((cap >> 8) & 0x1f, 0b00110);
    assert_eq!((cap >> 16) & 0x3f, 47);
    assert_eq!((cap >> 56) & 1, 1);
    assert_eq!((cap >> 60) & 1, 1);
    // ECAP: QI 1, DT 2, PT 6, SC 7, NEST 26, PRS 29, PSS 39:35 (19), PASID 40, SMTS 43,
    // SSADS 45, SSTS 46, FSTS 47.
    for bit in [1, 2, 6, 7, 26, 29, 40, 43, 45, 46, 47] {
        assert_eq!((ecap >> bit) & 1, 1, "ECAP bit {bit}");
    }
    assert_eq!((ecap >> 35) & 0x1f, 19);
    // Default devices have no ATS and no PASID.
    assert_eq!(
        c.out_capabilities,
        HW_CAP_DIRTY_TRACKING | HW_CAP_PCI_ATS_NOT_SUPPORTED
    );
    assert_eq!(c.out_max_pasid_log2, 0);
}

#[test]
fn smmuv3_reports_its_identification_registers() {
    let p = smmu(1);
    let ctx = p.context(1 << 20);
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    // Asking for the VT-d type of an SMMU: refused; for the default type: answered.
    let mut ask = k::iommu_hw_info {
        size: 40,
        flags: HW_INFO_FLAG_INPUT_TYPE,
        dev_id: dev,
        ..Default::default()
    };
    ask.__bindgen_anon_1.in_data_type = HW_INFO_TYPE_INTEL_VTD;
    assert_eq!(call(&ctx, 0x8a, &mut ask), Err(libc::EOPNOTSUPP));
    assert!(hw_info(&ctx, dev, 40, HW_INFO_FLAG_INPUT_TYPE).0.is_ok());
    let (r, c, b) = hw_info(&ctx, dev, 40, 0);
    r.unwrap();
    // SAFETY: a `u32` either way.
    assert_eq!(
        unsafe { c.__bindgen_anon_1.out_data_type },
        HW_INFO_TYPE_ARM_SMMUV3
    );
    assert_eq!(c.data_len, 40);
    let idr0 = u32_at(&b, 8);
    // IDR0: S2P 0, S1P 1, TTF 3:2 (AArch64: 0b10), ST_LEVEL 28:27 (two-level: 0b01).
    assert_eq!(idr0 & 3, 3);
    assert_eq!((idr0 >> 2) & 3, 0b10);
    assert_eq!((idr0 >> 27) & 3, 0b01);
    // IDR1: SIDSIZE 5:0 (16), SSIDSIZE 10:6 (20).
    let idr1 = u32_at(&b, 12);
    assert_eq!((idr1 & 0x3f, (idr1 >> 6) & 0x1f), (16, 20));
    // IDR3: RIL 10.
    assert_eq!(u32_at(&b, 20) >> 10 & 1, 1);
}

#[test]
fn the_blob_is_truncated_or_zero_filled_to_the_callers_length() {
    let p = vtd(1);
    let ctx = p.context(1 << 20);
    let dev = ctx.device_bind(p.devs[0]).unwrap();
    let (_, full, whole) = hw_info(&ctx, dev, 24, 0);
    assert_eq!(full.data_len, 24);
    // Shorter: only that much is written; data_len says what the kernel has.
    let (r, c, b) = hw_info(&ctx, dev, 12, 0);
    r.unwrap();
    assert_eq!(c.data_len, 24);
    assert_eq!(&b[..12], &whole[..12]);
    // Longer: the rest is zeroed.
    let (r, c, b) = hw_info(&ctx, dev, 64, 0);
    r.unwrap();
    assert_eq!(c.data_len, 24);
    assert_eq!(&b[..24], &whole[..24]);
    assert!(b[24..].iter().all(|&x| x == 0));
    // None at all is allowed.
    let mut c = k::iommu_hw_info {
        size: 40,
        dev_id: dev,
        ..Default::default()
    };
    call(&ctx, 0x8a, &mut c).unwrap();
    assert_eq!(c.data_len, 24);
    // Unknown flags, reserved bytes, no device, a short structure.
    assert_eq!(hw_info(&ctx, dev, 24, 2).0, Err(libc::EOPNOTSUPP));
    c.__reserved = [0, 1, 0];
    assert_eq!(call(&ctx, 0x8a, &mut c), Err(libc::EOPNOTSUPP));
    assert_eq!(hw_info(&ctx, 99, 24, 0).0, Err(libc::ENOENT));
    let mut short = k::iommu_hw_info {
        size: 28,
        dev_id: dev,
        ..Default::default()
    };
    assert_eq!(call(&ctx, 0x8a, &mut short), Err(libc::EINVAL));
}
