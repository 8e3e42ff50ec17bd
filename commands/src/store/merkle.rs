//! The Merkle tree of RFC 9162 (Certificate Transparency v2) over event hashes: the groundwork of
//! the sealer's signed checkpoints, so that one event's inclusion in a checkpoint can be proved
//! with O(log n) hashes and checked offline.
//!
//! Leaves and interior nodes are domain-separated: `leaf = SHA-256(0x00 ‖ data)`,
//! `node = SHA-256(0x01 ‖ left ‖ right)`; the tree over n leaves splits at the largest power of two
//! below n. [`Frontier`] keeps the roots of the perfect subtrees seen so far, so the root after
//! each new leaf costs O(log n) without keeping every leaf.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The hash of a leaf's data.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

fn split(n: usize) -> usize {
    // The largest power of two strictly below n (n ≥ 2).
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root over leaf hashes (already `leaf_hash`ed).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` (RFC 9162 PATH): the sibling hashes from the leaf up.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || index >= n {
        return Vec::new();
    }
    let k = split(n);
    if index < k {
        let mut path = inclusion_proof(&leaves[..k], index);
        path.push(root(&leaves[k..]));
        path
    } else {
        let mut path = inclusion_proof(&leaves[k..], index - k);
        path.push(root(&leaves[..k]));
        path
    }
}

/// The inclusion proofs of several leaves at once (`indexes` ascending, each below the number of
/// leaves), in O(n) hashes for all of them rather than O(n) for each. Same paths as
/// [`inclusion_proof`].
pub fn inclusion_proofs(leaves: &[Hash], indexes: &[usize]) -> Vec<Vec<Hash>> {
    let wanted: Vec<(usize, usize)> = indexes.iter().copied().enumerate().map(|(slot, i)| (i, slot)).collect();
    let mut proofs = vec![Vec::new(); indexes.len()];
    if !leaves.is_empty() {
        walk(leaves, &wanted, &mut proofs);
    }
    proofs
}

/// Returns the root of `leaves`, pushing sibling roots onto the proofs of the wanted leaves
/// (`(index within leaves, slot in proofs)`) on the way up.
fn walk(leaves: &[Hash], wanted: &[(usize, usize)], proofs: &mut [Vec<Hash>]) -> Hash {
    if wanted.is_empty() {
        return root(leaves);
    }
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = split(leaves.len());
    let cut = wanted.partition_point(|&(i, _)| i < k);
    let right_wanted: Vec<(usize, usize)> = wanted[cut..].iter().map(|&(i, slot)| (i - k, slot)).collect();
    let left = walk(&leaves[..k], &wanted[..cut], proofs);
    let right = walk(&leaves[k..], &right_wanted, proofs);
    for &(_, slot) in &wanted[..cut] {
        proofs[slot].push(right);
    }
    for &(_, slot) in &wanted[cut..] {
        proofs[slot].push(left);
    }
    node_hash(&left, &right)
}

/// Checks an inclusion proof (RFC 9162, section 2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, tree_size: u64, proof: &[Hash], expected_root: &Hash) -> bool {
    if index >= tree_size {
        return false;
    }
    let (mut fn_, mut sn) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == expected_root
}

/// The roots of the perfect subtrees covering the leaves seen so far (largest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    subtrees: Vec<(u32, Hash)>,
    size: u64,
}

impl Frontier {
    /// Adds the next leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = (0u32, leaf);
        while let Some(&(height, left)) = self.subtrees.last() {
            if height != carry.0 {
                break;
            }
            self.subtrees.pop();
            carry = (height + 1, node_hash(&left, &carry.1));
        }
        self.subtrees.push(carry);
        self.size += 1;
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root over the leaves so far, the same as [`root`].
    pub fn root(&self) -> Hash {
        let mut subtrees = self.subtrees.iter().rev();
        let Some((_, last)) = subtrees.next() else { return empty_root() };
        subtrees.fold(*last, |acc, (_, left)| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_proofs_equal_single_ones() {
        for n in [1, 2, 3, 5, 8, 13, 64, 100] {
            let leaves = leaves(n);
            let indexes: Vec<usize> = (0..n).filter(|i| i % 3 != 1).collect();
            let batched = inclusion_proofs(&leaves, &indexes);
            for (slot, &i) in indexes.iter().enumerate() {
                assert_eq!(batched[slot], inclusion_proof(&leaves, i), "n={n} i={i}");
                assert!(verify_inclusion(&leaves[i], i as u64, n as u64, &batched[slot], &root(&leaves)));
            }
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("event {i}").as_bytes())).collect()
    }

    #[test]
    fn frontier_root_equals_the_recursive_root_for_every_size() {
        let all = leaves(70);
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), empty_root());
        for n in 1..=all.len() {
            frontier.push(all[n - 1]);
            assert_eq!(frontier.root(), root(&all[..n]), "size {n}");
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_tampering_fails() {
        for n in 1..=40usize {
            let all = leaves(n);
            let tree_root = root(&all);
            for index in 0..n {
                let proof = inclusion_proof(&all, index);
                assert!(proof.len() <= 6, "O(log n) hashes");
                assert!(
                    verify_inclusion(&all[index], index as u64, n as u64, &proof, &tree_root),
                    "n {n} index {index}"
                );
                let other = (index + 1) % n;
                if other != index {
                    assert!(
                        !verify_inclusion(&all[other], index as u64, n as u64, &proof, &tree_root),
                        "wrong leaf, n {n}"
                    );
                }
                if let Some(first) = proof.first() {
                    let mut forged = proof.clone();
                    forged[0] = node_hash(first, first);
                    assert!(
                        !verify_inclusion(&all[index], index as u64, n as u64, &forged, &tree_root),
                        "forged proof, n {n}"
                    );
                }
                assert!(!verify_inclusion(&all[index], n as u64, n as u64, &proof, &tree_root), "index out of range");
            }
        }
    }

    #[test]
    fn leaves_and_nodes_are_domain_separated() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut concatenated = a.to_vec();
        concatenated.extend_from_slice(&b);
        // A leaf whose data is two hashes never equals the node over them.
        assert_ne!(leaf_hash(&concatenated), node_hash(&a, &b));
        assert_eq!(root(&[a, b]), node_hash(&a, &b));
    }
}
