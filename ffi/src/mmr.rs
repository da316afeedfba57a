//! Merkle mountain range (RFC 9162 hashing); see the module brief in ffi/src/lib.rs.
