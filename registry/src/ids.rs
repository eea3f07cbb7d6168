//! Stable op ids.

use std::collections::HashMap;

/// Assigns each canonical op name a small integer id, once, for the life of the process.
/// Ids are never reused or reassigned, so callers may cache them (the sdk does).
#[derive(Debug, Default)]
pub struct IdTable {
    map: HashMap<String, u32>,
    names: Vec<String>,
}

impl IdTable {
    /// An empty table.
    pub fn new() -> IdTable {
        IdTable::default()
    }

    /// The id of `canonical`, allocating the next one if the name is new.
    pub fn get_or_insert(&mut self, canonical: &str) -> u32 {
        if let Some(&id) = self.map.get(canonical) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(canonical.to_string());
        self.map.insert(canonical.to_string(), id);
        id
    }

    /// Number of ids allocated so far.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no id was allocated yet.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Canonical name of an id.
    pub fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(|s| s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable() {
        let mut t = IdTable::new();
        let a = t.get_or_insert("ferrite::add");
        let b = t.get_or_insert("ferrite::mul");
        assert_ne!(a, b);
        assert_eq!(t.get_or_insert("ferrite::add"), a);
        assert_eq!(t.name(b), Some("ferrite::mul"));
    }
}
