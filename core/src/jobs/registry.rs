//! The kinds a worker runs, by name, as crates.io's `JobRegistry`: a row's `kind` finds the type
//! its payload is read as.

use std::collections::BTreeMap;
use std::pin::Pin;

use super::{BackgroundJob, Context, Failure, Job, JobError};

type Run<'a> = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'a>>;
type Runner = for<'a> fn(serde_json::Value, &'a Context) -> Run<'a>;

#[derive(Default)]
pub struct Registry {
    runners: BTreeMap<&'static str, Runner>,
}

impl Registry {
    /// Adds `J`. Two types with one name would make a row's meaning depend on the order of
    /// registration, so that stops the worker at start.
    #[must_use]
    pub fn register<J: BackgroundJob>(mut self) -> Self {
        let taken = self.runners.insert(J::NAME, run::<J>);
        assert!(taken.is_none(), "job kind {} registered twice", J::NAME);
        self
    }

    /// The kinds registered, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.runners.keys().copied()
    }

    /// Runs `job` as the type its kind names. A kind no type has fails like any job, and is
    /// retried: during a rollout a newer replica may know it.
    pub async fn run(&self, job: &Job, ctx: &Context) -> Result<(), JobError> {
        let Some(runner) = self.runners.get(job.kind.as_str()) else {
            return Err(JobError::new(Failure::UnknownKind, anyhow::anyhow!("unknown job kind {:?}", job.kind)));
        };
        runner(job.payload.clone(), ctx).await
    }
}

fn run<J: BackgroundJob>(payload: serde_json::Value, ctx: &Context) -> Run<'_> {
    Box::pin(async move {
        let job: J = serde_json::from_value(payload).map_err(|e| JobError::new(Failure::BadPayload, e))?;
        job.run(ctx).await
    })
}
