//! `load_state_dict`: validate everything, then copy in place.

use crate::error::{Result, ShapeMismatch, StateDictError};
use crate::tensor::Tensor;
use std::collections::{HashMap, HashSet};

/// Checks `sd` against the module's `targets` (its parameters and buffers) and returns the
/// `(target, source)` pairs to copy, or the full list of problems.
///
/// # Errors
/// [`StateDictError`] as documented on [`super::Module::load_state_dict`].
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::state::plan;
/// let targets = vec![("w".to_string(), host.zeros(&[2], DType::F32)?)];
/// let good = vec![("w".to_string(), host.ones(&[2], DType::F32)?)];
/// assert_eq!(plan(&targets, &good, true).unwrap().len(), 1);
/// let bad = vec![("w".to_string(), host.ones(&[3], DType::F32)?), ("extra".to_string(), host.ones(&[1], DType::F32)?)];
/// let err = plan(&targets, &bad, true).unwrap_err();
/// assert_eq!((err.shape_mismatch.len(), err.unexpected), (1, vec!["extra".to_string()]));
/// # Ok(())
/// # }
/// ```
pub fn plan<'a>(targets: &'a [(String, Tensor)], sd: &'a [(String, Tensor)], strict: bool) -> Result<Vec<(&'a Tensor, &'a Tensor)>, StateDictError> {
    let mut err = StateDictError::default();
    let mut source: HashMap<&str, &Tensor> = HashMap::with_capacity(sd.len());
    for (name, t) in sd {
        if source.insert(name.as_str(), t).is_some() && !err.duplicate.contains(name) {
            err.duplicate.push(name.clone());
        }
    }
    let wanted: HashSet<&str> = targets.iter().map(|(n, _)| n.as_str()).collect();
    let mut pairs = Vec::with_capacity(targets.len());
    for (name, dst) in targets {
        match source.get(name.as_str()) {
            None => err.missing.push(name.clone()),
            Some(src) => {
                let (expected, got) = (dst.shape(), src.shape());
                if expected == got {
                    pairs.push((dst, *src));
                } else {
                    err.shape_mismatch.push(ShapeMismatch { name: name.clone(), expected, got });
                }
            }
        }
    }
    let mut seen = HashSet::new();
    for (name, _) in sd {
        if !wanted.contains(name.as_str()) && seen.insert(name.as_str()) {
            err.unexpected.push(name.clone());
        }
    }
    if !strict {
        err.missing.clear();
        err.unexpected.clear();
    }
    if err.is_empty() {
        Ok(pairs)
    } else {
        Err(err)
    }
}

/// Validates with [`plan`] and then copies every value with `Tensor::copy_` under `no_grad`.
///
/// # Errors
/// [`crate::Error::StateDict`] before anything is copied; [`crate::Error::Host`] if a copy fails.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::nn::state::load_into;
/// let w = host.zeros(&[2], DType::F32)?;
/// let targets = vec![("w".to_string(), w.clone())];
/// load_into(&targets, &[("w".to_string(), host.ones(&[2], DType::F32)?)], true)?;
/// assert_eq!(w.to_vec::<f32>()?, vec![1.0, 1.0]); // copied in place
/// assert!(load_into(&targets, &[], true).is_err()); // "w" missing
/// # Ok(())
/// # }
/// ```
pub fn load_into(targets: &[(String, Tensor)], sd: &[(String, Tensor)], strict: bool) -> Result<()> {
    let pairs = plan(targets, sd, strict)?;
    let Some((first, _)) = pairs.first() else {
        return Ok(());
    };
    first.host().no_grad(|| pairs.iter().try_for_each(|(dst, src)| dst.copy_(src)))
}
