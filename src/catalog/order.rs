//! Ordering by references: a stable topological order of items by the names their
//! text mentions (the words of [`crate::sql::words`]). Used by the diff engine inside its phases and
//! by the canonical dump, which must load in the order it is printed.

use std::collections::{BTreeMap, BTreeSet};

use crate::sql::words::words;

/// `items` reordered so that each comes after the items defining a name its text
/// mentions (see [`words`]), and otherwise in the given order; on a cycle (a false
/// positive, or two functions calling each other) the earliest waiting item goes next.
/// `object` gives the (unqualified) names an item defines and the text it is created from.
pub(crate) fn reference_order<T, N: IntoIterator<Item = String>>(
    changes: Vec<T>,
    object: impl Fn(&T) -> (N, String),
) -> Vec<T> {
    let objects: Vec<(BTreeSet<String>, String)> = changes
        .iter()
        .map(|c| {
            let (names, text) = object(c);
            (names.into_iter().collect(), text)
        })
        .collect();
    let mut defined_by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (names, _)) in objects.iter().enumerate() {
        for name in names {
            defined_by.entry(name.as_str()).or_default().push(i);
        }
    }
    // For each change, the changes it waits for; and the reverse.
    let mut waits: Vec<usize> = vec![0; changes.len()];
    let mut unblocks: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    for (i, (names, text)) in objects.iter().enumerate() {
        let mut deps: BTreeSet<usize> = BTreeSet::new();
        // Its own names are no reference: overloads of one routine would wait for each
        // other, and a recursive routine for itself.
        for word in words(text).into_iter().filter(|w| !names.contains(w)) {
            if let Some(defs) = defined_by.get(word.as_str()) {
                deps.extend(defs.iter().copied().filter(|&d| d != i));
            }
        }
        waits[i] = deps.len();
        for d in deps {
            unblocks[d].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..changes.len()).filter(|&i| waits[i] == 0).collect();
    let mut pending: BTreeSet<usize> = (0..changes.len()).collect();
    let mut order = Vec::with_capacity(changes.len());
    while let Some(&first) = pending.first() {
        let next = ready.first().copied().unwrap_or(first);
        ready.remove(&next);
        pending.remove(&next);
        order.push(next);
        for &u in &unblocks[next] {
            waits[u] = waits[u].saturating_sub(1);
            if waits[u] == 0 && pending.contains(&u) {
                ready.insert(u);
            }
        }
    }
    let mut slots: Vec<Option<T>> = changes.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}
