use ferrite_sdk::{functional as F, DType};
use ferrite_tests::with_ops_ref;

#[test]
fn relu_forward_backward_through_plugin() {
    let host = with_ops_ref();
    let x = host.from_slice(&[-1.0f32, 2.0, 0.0, 3.0], &[2, 2]).unwrap().requires_grad_(true).unwrap();
    let y = F::relu(&x).unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 2.0, 0.0, 3.0]);
    let s = y.reshape(&[-1]).unwrap();
    s.backward_with(Some(&host.ones(&[4], DType::F32).unwrap()), false).unwrap();
    assert_eq!(x.grad().unwrap().to_vec::<f32>().unwrap(), vec![0.0, 1.0, 0.0, 1.0]);
}
