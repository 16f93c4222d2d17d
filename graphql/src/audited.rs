//! Every root mutation field is one transaction that also holds its audit row: the change, what
//! the field's nested fields read, and the record of who did it commit together or not at all
//! (a crash between a change and a separate audit write would lose the record). Fields that
//! fail change nothing; the HTTP layer records them, with their error code, afterwards.

use std::sync::{Arc, Mutex, PoisonError};

use juniper::meta::MetaType;
use juniper::{
    Arguments, BoxFuture, DefaultScalarValue, ExecutionResult, Executor, GraphQLType, GraphQLValue, GraphQLValueAsync,
    IntoFieldError, Registry,
};
use renkei_core::audit;
use renkei_core::db::Session;

use crate::Context;
use crate::error::ApiError;
use crate::mutation::Mutation;

/// The mutation root as clients see it, resolved field by field inside [`Audit`]'s transactions.
pub struct AuditedMutation;

/// A root field of the operation about to run, as the cost analysis read it.
pub struct AuditedField {
    pub name: String,
    /// The ids its arguments name.
    pub targets: Vec<String>,
}

/// The audit of one mutation operation: its root fields in document order (mutation fields run
/// one after the other, so the n-th field resolved is the n-th of the document with that name).
pub struct Audit {
    request_id: String,
    fields: Vec<AuditedField>,
    state: Mutex<State>,
}

/// The transaction the sign-in opened, waiting for the first root field.
type Opened = Option<Session>;

#[derive(Default)]
struct State {
    /// How many root fields have started.
    started: usize,
    /// Which fields were recorded with their change.
    recorded: Vec<bool>,
    /// The running field's transaction.
    current: Option<Arc<Session>>,
    /// The sign-in's transaction, which the first field takes over (no round trip spent on it).
    opened: Opened,
}

impl Audit {
    /// `opened`: the transaction the caller's sign-in opened, for the first field to use.
    pub fn new(request_id: String, fields: Vec<AuditedField>, opened: Session) -> Self {
        let recorded = vec![false; fields.len()];
        Self { request_id, fields, state: Mutex::new(State { recorded, opened: Some(opened), ..State::default() }) }
    }

    /// Ends the sign-in's transaction if no field took it over (every field skipped, or the
    /// operation timed out first).
    pub async fn close(&self) {
        let opened = self.state().opened.take();
        if let Some(session) = opened {
            session.abandon().await;
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The running field's transaction, for `Context::run`.
    pub(crate) fn current(&self) -> Option<Arc<Session>> {
        self.state().current.clone()
    }

    /// Whether the n-th root field (document order) was recorded with its change.
    pub fn recorded(&self, index: usize) -> bool {
        self.state().recorded.get(index).copied().unwrap_or(false)
    }

    /// Starts the next root field called `name` in the sign-in's transaction, or else in one
    /// that opens at its first read.
    fn begin(&self, name: &str, db: &renkei_core::db::Db, principal: &renkei_core::Principal) -> Option<usize> {
        let mut state = self.state();
        let session = state.opened.take().unwrap_or_else(|| Session::for_change(db, principal));
        let index = (state.started..self.fields.len()).find(|&i| self.fields[i].name == name);
        if let Some(i) = index {
            state.started = i + 1;
        }
        state.current = Some(Arc::new(session));
        index
    }

    fn end(&self) -> Option<Arc<Session>> {
        self.state().current.take()
    }
}

/// The object id a field answered with, if it asked for one.
fn answered_id(value: &juniper::Value) -> Option<String> {
    match value.as_object_value()?.get_field_value("id")?.as_scalar()? {
        DefaultScalarValue::String(id) => Some(id.clone()),
        _ => None,
    }
}

impl GraphQLType<DefaultScalarValue> for AuditedMutation {
    fn name(info: &()) -> Option<juniper::ArcStr> {
        <Mutation as GraphQLType<DefaultScalarValue>>::name(info)
    }

    fn meta(info: &(), registry: &mut Registry<DefaultScalarValue>) -> MetaType<DefaultScalarValue> {
        <Mutation as GraphQLType<DefaultScalarValue>>::meta(info, registry)
    }
}

impl GraphQLValue<DefaultScalarValue> for AuditedMutation {
    type Context = Context;
    type TypeInfo = ();

    fn type_name(&self, info: &()) -> Option<juniper::ArcStr> {
        <Mutation as GraphQLValue<DefaultScalarValue>>::type_name(&Mutation, info)
    }

    fn concrete_type_name(&self, context: &Context, info: &()) -> String {
        <Mutation as GraphQLValue<DefaultScalarValue>>::concrete_type_name(&Mutation, context, info)
    }
}

impl GraphQLValueAsync<DefaultScalarValue> for AuditedMutation {
    fn resolve_field_async<'a>(
        &'a self,
        info: &'a (),
        field_name: &'a str,
        arguments: &'a Arguments<DefaultScalarValue>,
        executor: &'a Executor<Context, DefaultScalarValue>,
    ) -> BoxFuture<'a, ExecutionResult<DefaultScalarValue>> {
        Box::pin(async move {
            let ctx = executor.context();
            let Some(audit) = &ctx.audit else {
                return Mutation.resolve_field_async(info, field_name, arguments, executor).await;
            };
            let index = audit.begin(field_name, &ctx.db, &ctx.principal);
            let resolved = Mutation.resolve_field_async(info, field_name, arguments, executor).await;
            let Some(session) = audit.end() else { return resolved };
            let value = match resolved {
                Ok(value) => value,
                Err(e) => {
                    session.abandon().await;
                    return Err(e);
                }
            };
            let Some(index) = index else {
                // Not a field the analysis listed: nothing to record it under; keep no change.
                session.abandon().await;
                return Ok(value);
            };
            let field = &audit.fields[index];
            let action = audit::Action {
                operation: field.name.clone(),
                targets: audit::Action::targets_with(&field.targets, answered_id(&value).as_deref()),
                outcome: "ok".into(),
                request_id: audit.request_id.clone(),
            };
            let p = ctx.principal.clone();
            let stored = async {
                session.run(move |c| Box::pin(async move { audit::record_in(c, &p, vec![action]).await })).await?;
                session.commit().await
            };
            match stored.await {
                Ok(()) => {
                    audit.state().recorded[index] = true;
                    Ok(value)
                }
                Err(e) => {
                    session.abandon().await;
                    Err(ApiError(e).into_field_error())
                }
            }
        })
    }
}
