#[test]
fn dump() {
    let _h = ferrite_tests::with_ops_ref();
    for s in ferrite_core::Runtime::global().registry().summaries() {
        println!("{} in={:?} out={:?} attrs={:?} bw={} dt={:?}", s.name, s.inputs, s.outputs, s.attrs, s.backward, s.dtypes);
    }
}
