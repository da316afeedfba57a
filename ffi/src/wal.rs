//! Write-ahead log of framed records; see the module brief in ffi/src/lib.rs.
