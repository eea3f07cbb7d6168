//! Layout and data-movement tests (no plugin needed).

use super::*;
use ferrite_sdk::DType;

fn t(shape: &[i64]) -> Tensor {
    let n: i64 = shape.iter().product();
    Tensor::from_f64(shape, &(0..n).map(|v| v as f64).collect::<Vec<_>>(), DType::F32).unwrap()
}

#[test]
fn views_share_storage_and_read_through_strides() {
    let x = t(&[2, 3]);
    let tr = x.permute_view(&[1, 0]).unwrap();
    assert_eq!(tr.shape(), &[3, 2]);
    assert!(!tr.is_contiguous());
    assert_eq!(tr.to_f64_vec(), vec![0., 3., 1., 4., 2., 5.]);
    assert!(Arc::ptr_eq(&tr.0.storage, &x.0.storage));
    let s = x.slice_view(1, 1, 3, 1).unwrap();
    assert_eq!(s.to_f64_vec(), vec![1., 2., 4., 5.]);
    let s2 = x.slice_view(1, 0, 3, 2).unwrap();
    assert_eq!(s2.to_f64_vec(), vec![0., 2., 3., 5.]);
    let e = t(&[1, 3]).expand_view(&[2, -1]).unwrap();
    assert_eq!(e.strides(), &[0, 1]);
    assert_eq!(e.to_f64_vec(), vec![0., 1., 2., 0., 1., 2.]);
    // reshape of a non-contiguous view copies
    let r = tr.reshape_view(&[6]).unwrap();
    assert_eq!(r.to_f64_vec(), vec![0., 3., 1., 4., 2., 5.]);
    assert!(!Arc::ptr_eq(&r.0.storage, &x.0.storage));
    assert_eq!(x.reshape_view(&[3, -1]).unwrap().shape(), &[3, 2]);
}

#[test]
fn invalid_views_are_errors() {
    let x = t(&[2, 3]);
    assert!(x.reshape_view(&[4, -1]).is_err());
    assert!(x.reshape_view(&[-1, -1]).is_err());
    assert!(x.permute_view(&[0, 0]).is_err());
    assert!(x.permute_view(&[0]).is_err());
    assert!(x.slice_view(1, 2, 4, 1).is_err());
    assert!(x.slice_view(1, 0, 3, 0).is_err());
    assert!(x.slice_view(2, 0, 1, 1).is_err());
    assert!(x.expand_view(&[3, 3]).is_err());
    assert!(x.expand_view(&[3]).is_err());
}

#[test]
fn casts_round_and_copy_from_broadcasts_and_bumps_version() {
    let x = Tensor::from_f64(&[3], &[1.5, -2.7, 65519.0], DType::F64).unwrap();
    assert_eq!(x.cast(DType::F16).unwrap().to_f64_vec(), vec![1.5, -2.69921875, 65504.0]);
    assert_eq!(x.cast(DType::I64).unwrap().to_f64_vec(), vec![1.0, -2.0, 65519.0]);
    assert_eq!(x.cast(DType::BOOL).unwrap().to_f64_vec(), vec![1.0, 1.0, 1.0]);
    let dst = Tensor::zeros(&[2, 3], DType::F32).unwrap();
    let v0 = dst.0.storage.version();
    dst.copy_from(&x).unwrap();
    assert_eq!(dst.to_f64_vec(), vec![1.5, -2.7f32 as f64, 65519.0, 1.5, -2.7f32 as f64, 65519.0]);
    assert_eq!(dst.0.storage.version(), v0 + 1);
    assert!(dst.copy_from(&t(&[4])).is_err());
}

#[test]
fn sizes_are_checked_before_allocating() {
    assert!(Tensor::zeros(&[1 << 40, 1 << 40], DType::F32).is_err());
    assert!(Tensor::zeros(&[1 << 30, 1 << 30], DType::F32).is_err(), "4 EiB must be refused, not abort");
    assert!(Tensor::zeros(&[-1], DType::F32).is_err());
    assert!(Tensor::from_bytes(&[2], DType::F32, &[0u8; 7]).is_err());
    let z = Tensor::zeros(&[0, 3], DType::F64).unwrap();
    assert_eq!(z.numel(), 0);
    assert!(!z.data_ptr().is_null(), "present tensors never have a null data pointer");
}
