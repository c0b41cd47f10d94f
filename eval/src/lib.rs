//! Everything docent measures itself with: evaluation sets in the BEIR layout ([`beir`]), the
//! retrieval and answer metrics computed over them ([`metrics`]), and the run that ingests a set,
//! asks its questions and reports ([`run`]).

#![warn(missing_docs)]

pub mod beir;
pub mod metrics;
pub mod run;
