//! The engine's maps. Their keys (attempt ids, fingerprints, tool names) come from the
//! stream, which may be hostile: they are hashed with a seed chosen per process, by foldhash
//! (a fraction of SipHash's cost on short keys).

pub type Seeded = foldhash::fast::RandomState;
pub type HashMap<K, V> = std::collections::HashMap<K, V, Seeded>;
pub type HashSet<K> = std::collections::HashSet<K, Seeded>;
pub type IndexMap<K, V> = indexmap::IndexMap<K, V, Seeded>;
