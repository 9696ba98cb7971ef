//! Small seeded PRNG so that ids, fault decisions and secrets repeat under `--seed`.

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// SplitMix64: tiny, fast and good enough for test identifiers (not for secrets).
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (clamped to [0, 1]); draws nothing when `p` is 0 or 1
    /// so that configuring no fault does not shift the random sequence.
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.next_f64() < p
        }
    }

    /// `len` base-62 characters, the alphabet of Okta object ids.
    pub fn base62(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| BASE62[(self.next_u64() % 62) as usize] as char)
            .collect()
    }

    /// An Okta-style object id: a three-character prefix (`00u`, `00g`, `who`...)
    /// followed by 17 base-62 characters, 20 in all.
    pub fn okta_id(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.base62(17))
    }

    /// A random (version 4) UUID in its canonical lowercase form.
    pub fn uuid(&mut self) -> String {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let hi = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_ids() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.okta_id("00u"), b.okta_id("00u"));
        assert_eq!(a.uuid(), b.uuid());
    }

    #[test]
    fn okta_ids_are_twenty_characters() {
        let id = Rng::new(1).okta_id("00u");
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("00u"));
    }

    #[test]
    fn uuids_are_version_four() {
        let u = Rng::new(3).uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
