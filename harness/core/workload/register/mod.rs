//! The register workload's history and its judges: a few sessions reading, writing and
//! compare-and-setting a few znodes ([`history`]), judged black-box for linearizability
//! ([`linearizability`]) and white-box against ZooKeeper's documented guarantees ([`guarantees`]).
//! [`generate`] makes random histories, deterministic by seed, to cross-check the judges.

pub mod generate;
pub mod guarantees;
pub mod history;
pub mod linearizability;
pub mod live;
pub mod logs;
pub mod model;
pub mod realdata;

pub use guarantees::{judge, Breach, Guarantees};
pub use history::{Call, Outcome, RegisterHistory, RegisterOp, State};
pub use linearizability::{check, check_model, check_model_with, check_with, unsupported, FailingPart, Placed, Reads, Verdict};
pub use live::{RegisterOptions, RegisterWorkload};
pub use model::{KvMap, Model, ValueRegister, ZkRegister};
