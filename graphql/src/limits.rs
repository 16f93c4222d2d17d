//! What a document may cost, checked before anything runs. juniper bounds depth, tokens and
//! fields while parsing; this adds what it lacks: a cost budget, and caps on aliases and root
//! fields. The same walk yields what the audit log and the metrics need (operation name, root
//! fields and the ids they target).

use std::collections::HashMap;

use juniper::parser::{ParseError, Spanning};
use juniper::{Definition, InputValue, Operation, OperationType, Selection};

/// A fragment by name: its type condition and selections.
type Fragments<'d> = HashMap<&'d str, (&'d str, &'d [Selection<'d, DefaultScalarValue>])>;
use juniper::{DefaultScalarValue, SchemaType, Variables};

/// The bounds, from configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_tokens: usize,
    pub max_fields: usize,
    pub max_cost: u64,
    pub max_aliases: usize,
    pub max_root_fields: usize,
}

/// Depth 18 lets the standard introspection query (GraphiQL's, nine levels of `ofType`) through.
impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 18,
            max_tokens: 2_000,
            max_fields: 500,
            max_cost: 5_000,
            max_aliases: 30,
            max_root_fields: 10,
        }
    }
}

/// A refused document: a machine-readable code and a message naming the limit and its value.
#[derive(Debug, PartialEq, Eq)]
pub struct LimitError {
    pub code: &'static str,
    pub message: String,
}

/// Turns juniper's own limit errors into ours; `None` for an ordinary syntax error.
pub fn parse_limit(e: &ParseError) -> Option<LimitError> {
    match e {
        ParseError::DepthLimitExceeded(n) => {
            Some(LimitError { code: "QUERY_TOO_DEEP", message: format!("the document nests deeper than {n} levels") })
        }
        ParseError::TokenLimitExceeded(n) => {
            Some(LimitError { code: "QUERY_TOO_LONG", message: format!("the document has more than {n} tokens") })
        }
        ParseError::FieldLimitExceeded(n) => {
            Some(LimitError { code: "QUERY_TOO_LARGE", message: format!("the operation selects more than {n} fields") })
        }
        _ => None,
    }
}

/// One field at the root of the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootField {
    /// The response key (alias or name).
    pub key: String,
    pub name: String,
    /// Values of `id` and `…Id` arguments, also inside input objects, variables resolved.
    pub targets: Vec<String>,
}

#[derive(Debug)]
pub struct Analysis {
    pub operation_name: Option<String>,
    pub operation_type: OperationType,
    pub cost: u64,
    pub root_fields: Vec<RootField>,
}

/// Connections without a valid `first` are charged as if full.
const MAX_PAGE: u64 = 100;
/// Lists without paging (prefectures, vendors of a hospital …) are charged as this many items.
const LIST_FANOUT: u64 = 10;

struct Walk<'d> {
    schema: &'d SchemaType<DefaultScalarValue>,
    fragments: Fragments<'d>,
    variables: &'d Variables,
    aliases: usize,
}

fn int_argument(value: &InputValue, variables: &Variables) -> Option<u64> {
    let value = match value {
        InputValue::Variable(name) => variables.get(name)?,
        other => other,
    };
    match value.as_scalar()? {
        DefaultScalarValue::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

fn collect_targets(name: &str, value: &InputValue, variables: &Variables, out: &mut Vec<String>) {
    let is_target = name == "id" || name.ends_with("Id");
    match value {
        InputValue::Variable(var) => {
            if let Some(v) = variables.get(var) {
                collect_targets(name, v, variables, out);
            }
        }
        InputValue::Scalar(DefaultScalarValue::String(s)) if is_target => out.push(s.clone()),
        InputValue::List(items) => {
            for item in items {
                collect_targets(name, &item.item, variables, out);
            }
        }
        InputValue::Object(fields) => {
            for (key, v) in fields {
                collect_targets(&key.item, &v.item, variables, out);
            }
        }
        _ => {}
    }
}

impl<'d> Walk<'d> {
    /// Cost of a selection set on `parent`: every object field costs 1, times the items of
    /// the lists and connections above it.
    fn cost(
        &mut self,
        parent: &str,
        selections: &'d [Selection<'d, DefaultScalarValue>],
        in_connection: bool,
        seen: &mut Vec<&'d str>,
    ) -> u64 {
        let mut total: u64 = 0;
        for selection in selections {
            total = total.saturating_add(match selection {
                Selection::Field(field) => {
                    let field = &field.item;
                    if field.alias.is_some() {
                        self.aliases += 1;
                    }
                    // Introspection walks the fixed schema; depth, field and token limits bound
                    // it, and production switches it off.
                    if field.name.item.starts_with("__") {
                        continue;
                    }
                    let Some(children) = &field.selection_set else { continue };
                    let meta = self.schema.concrete_type_by_name(parent).and_then(|t| t.field_by_name(field.name.item));
                    let Some(meta) = meta else { continue };
                    let child_type = meta.field_type.innermost_name().to_owned();
                    let first =
                        field.arguments.as_ref().and_then(|args| {
                            args.item.items.iter().find(|(k, _)| k.item == "first").map(|(_, v)| {
                                int_argument(&v.item, self.variables).map_or(MAX_PAGE, |n| n.min(MAX_PAGE))
                            })
                        });
                    let (multiplier, connection) = match first {
                        Some(n) => (n.max(1), true),
                        // A connection's own edges and nodes are the page already charged.
                        None if in_connection && matches!(field.name.item, "edges" | "nodes") => (1, false),
                        // juniper's `is_list` misses `[T!]!`; the printed type does not.
                        None if meta.field_type.to_string().starts_with('[') => (LIST_FANOUT, false),
                        None => (1, false),
                    };
                    let inner = self.cost(&child_type, children, connection, seen);
                    multiplier.saturating_mul(inner.saturating_add(1))
                }
                Selection::InlineFragment(inline) => {
                    let on = inline.item.type_condition.as_ref().map_or(parent, |t| t.item);
                    let on = on.to_owned();
                    self.cost(&on, &inline.item.selection_set, in_connection, seen)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.item.name.item;
                    // Validation refuses cycles; this guard only keeps a bad document harmless.
                    if seen.contains(&name) {
                        continue;
                    }
                    let Some(fragment) = self.fragments.get(name).copied() else { continue };
                    seen.push(name);
                    let (on, selections) = fragment;
                    let c = self.cost(on, selections, in_connection, seen);
                    seen.pop();
                    c
                }
            });
        }
        total
    }
}

fn root_fields<'d>(
    selections: &'d [Selection<'d, DefaultScalarValue>],
    fragments: &Fragments<'d>,
    variables: &Variables,
    out: &mut Vec<RootField>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    for selection in selections {
        match selection {
            Selection::Field(field) => {
                let field = &field.item;
                let mut targets = Vec::new();
                if let Some(args) = &field.arguments {
                    for (k, v) in &args.item.items {
                        collect_targets(k.item, &v.item, variables, &mut targets);
                    }
                }
                out.push(RootField {
                    key: field.alias.as_ref().map_or(field.name.item, |a| a.item).to_owned(),
                    name: field.name.item.to_owned(),
                    targets,
                });
            }
            Selection::InlineFragment(inline) => {
                root_fields(&inline.item.selection_set, fragments, variables, out, depth + 1)
            }
            Selection::FragmentSpread(spread) => {
                if let Some((_, selections)) = fragments.get(spread.item.name.item) {
                    root_fields(selections, fragments, variables, out, depth + 1);
                }
            }
        }
    }
}

/// Checks a parsed document against `limits` and describes its operation. The document has
/// passed juniper's validation, so the operation exists and fragments are acyclic.
pub fn analyse(
    schema: &SchemaType<DefaultScalarValue>,
    document: &[Definition<'_, DefaultScalarValue>],
    operation_name: Option<&str>,
    variables: &Variables,
    limits: &Limits,
) -> Result<Analysis, LimitError> {
    let mut fragments: Fragments<'_> = HashMap::new();
    let mut operation: Option<&Spanning<Operation<'_, DefaultScalarValue>>> = None;
    for definition in document {
        match definition {
            Definition::Fragment(f) => {
                fragments.insert(f.item.name.item, (f.item.type_condition.item, f.item.selection_set.as_slice()));
            }
            Definition::Operation(op) => {
                if operation_name.is_none() || op.item.name.as_ref().map(|n| n.item) == operation_name {
                    operation = Some(op);
                }
            }
        }
    }
    let Some(op) = operation else {
        return Err(LimitError { code: "GRAPHQL_VALIDATION_FAILED", message: "no operation to run".into() });
    };
    let op = &op.item;
    let root = match op.operation_type {
        OperationType::Query => schema.concrete_query_type().name().map(ToString::to_string),
        OperationType::Mutation => schema.concrete_mutation_type().and_then(|t| t.name()).map(ToString::to_string),
        OperationType::Subscription => None,
    }
    .unwrap_or_default();
    let mut roots = Vec::new();
    root_fields(&op.selection_set, &fragments, variables, &mut roots, 0);
    if roots.len() > limits.max_root_fields {
        return Err(LimitError {
            code: "TOO_MANY_ROOT_FIELDS",
            message: format!(
                "the operation has {} root fields; at most {} are allowed",
                roots.len(),
                limits.max_root_fields
            ),
        });
    }
    let mut walk = Walk { schema, fragments, variables, aliases: 0 };
    let cost = walk.cost(&root, &op.selection_set, false, &mut Vec::new());
    if walk.aliases > limits.max_aliases {
        return Err(LimitError {
            code: "TOO_MANY_ALIASES",
            message: format!("the operation uses {} aliases; at most {} are allowed", walk.aliases, limits.max_aliases),
        });
    }
    if cost > limits.max_cost {
        return Err(LimitError {
            code: "QUERY_TOO_COMPLEX",
            message: format!("the operation costs {cost}; the budget is {}", limits.max_cost),
        });
    }
    Ok(Analysis {
        operation_name: op.name.as_ref().map(|n| n.item.to_owned()),
        operation_type: op.operation_type,
        cost,
        root_fields: roots,
    })
}

/// The first variable type the schema does not know. juniper's validation panics on a default
/// value of such a type, so it is checked before juniper sees the document.
pub fn unknown_variable_type(
    schema: &SchemaType<DefaultScalarValue>,
    document: &[Definition<'_, DefaultScalarValue>],
) -> Option<String> {
    document.iter().find_map(|d| match d {
        Definition::Operation(op) => op.item.variables_definition.as_ref().and_then(|vars| {
            vars.item.items.iter().find_map(|(_, def)| {
                let name = def.var_type.item.innermost_name();
                schema.concrete_type_by_name(name).is_none().then(|| name.to_owned())
            })
        }),
        Definition::Fragment(_) => None,
    })
}
