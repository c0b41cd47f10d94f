//! Everything docent measures itself with: evaluation sets in the BEIR layout ([`beir`]) and the
//! retrieval and answer metrics computed over them ([`metrics`]).

#![warn(missing_docs)]

pub mod beir;
pub mod metrics;
