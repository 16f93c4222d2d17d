//! What a document may cost, checked before anything runs. juniper bounds depth, tokens and
//! fields while parsing; this adds what it lacks: a cost budget, caps on aliases and root
//! fields, and a plausible range for every date input. The same walk yields what the audit log and the metrics need (operation name, root
//! fields and the ids they target).
//!
//! The cost is the number of objects the answer can hold: every object field 1, times the items
//! of the lists above it. A list is charged what it can return: `first` for paged ones, the
//! rows its arguments allow for `kpiReport` and `incidentStatistics` (years × metrics × items ×
//! the sizes of the grouping dimensions), the fixed size of reference lists, and
//! [`LIST_FANOUT`] for the short lists of one object (an incident's tasks, a hospital's vendors).

use std::collections::HashMap;

use chrono::Datelike as _;
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
            // The national KPI report by prefecture and bed band over three fiscal years
            // (7,896 rows) fits; one year of every metric by every dimension does not.
            max_cost: 10_000,
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

/// Years every date and time input must lie in: the registry's events (designations, windows,
/// incidents, inspections) fall well inside, and PostgreSQL, whose dates end at 4713 BC, never
/// sees one it cannot store (that was an `INTERNAL` error).
const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i32> = 1900..=2100;

/// Connections without a valid `first` are charged as if full.
const MAX_PAGE: u64 = 100;
/// Short lists of one object without paging (vendors of a hospital, an incident's tasks …) are
/// charged as this many items.
const LIST_FANOUT: u64 = 10;

/// Sizes of reference data that the schema does not enumerate (prefectures and regions are rows
/// of the `prefectures` table, migrated once; the flowchart and ransomware points likewise).
const PREFECTURES: u64 = 47;
const REGIONS: u64 = 8;
/// Chubu, the region with the most prefectures.
const LARGEST_REGION: u64 = 9;
const FLOWCHART_STEPS: u64 = 37;
const RANSOMWARE_POINTS: u64 = 11;
/// Items of one checklist catalog (13 to 20 in the published forms; room for growth).
const CATALOG_ITEMS: u64 = 100;
/// `ITEM_YES_RATE` without `items` covers every yes/no item of a year's catalog: 13 today.
const UNNAMED_ITEMS: u64 = 50;
/// `kpiReport` refuses more fiscal years than this; an unknown count is charged as many.
const MAX_FISCAL_YEARS: u64 = renkei_core::kpis::MAX_YEARS as u64;
/// Hospitals and clinics whose checklist status one call lists; the list is not paged, so
/// this is a charge, not a bound (a prefecture official of Tokyo sees more).
const OVERSEEN_HOSPITALS: u64 = 1_000;
/// `incidentStatistics` by month over a window that cannot be read is charged every month dates
/// may name.
const UNKNOWN_MONTHS: u64 = (*PLAUSIBLE_YEARS.end() - *PLAUSIBLE_YEARS.start() + 1) as u64 * 12;

struct Walk<'d> {
    schema: &'d SchemaType<DefaultScalarValue>,
    fragments: Fragments<'d>,
    variables: &'d Variables,
    aliases: usize,
    /// The first date input outside [`PLAUSIBLE_YEARS`].
    implausible: Option<LimitError>,
}

/// A value with its variable resolved; `None` for a missing variable or null.
fn resolved<'v>(value: &'v InputValue, variables: &'v Variables) -> Option<&'v InputValue> {
    let value = match value {
        InputValue::Variable(name) => variables.get(name)?,
        other => other,
    };
    (!value.is_null()).then_some(value)
}

fn int_argument(value: &InputValue, variables: &Variables) -> Option<u64> {
    match resolved(value, variables)?.as_scalar()? {
        DefaultScalarValue::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

/// The items of a list argument as text (enum values, strings, numbers), duplicates removed;
/// a single value counts as a list of one, as GraphQL's input coercion has it.
fn list_argument(value: &InputValue, variables: &Variables) -> Option<Vec<String>> {
    let value = resolved(value, variables)?;
    let one = |v: &InputValue| match v {
        InputValue::Enum(e) => e.clone(),
        InputValue::Scalar(DefaultScalarValue::String(s)) => s.clone(),
        other => other.to_string(),
    };
    let mut items: Vec<String> = match value {
        InputValue::List(items) => items.iter().filter_map(|i| resolved(&i.item, variables)).map(one).collect(),
        other => vec![one(other)],
    };
    items.sort();
    items.dedup();
    Some(items)
}

/// A string argument or input-object field (an enum value read as its name).
fn text_argument(value: &InputValue, variables: &Variables) -> Option<String> {
    match resolved(value, variables)? {
        InputValue::Scalar(DefaultScalarValue::String(s)) => Some(s.clone()),
        InputValue::Enum(e) => Some(e.clone()),
        _ => None,
    }
}

/// A field's arguments by name.
struct Arguments<'a> {
    items: &'a [(Spanning<&'a str>, Spanning<InputValue>)],
    variables: &'a Variables,
}

impl<'a> Arguments<'a> {
    fn get(&self, name: &str) -> Option<&'a InputValue> {
        self.items.iter().find(|(k, _)| k.item == name).map(|(_, v)| &v.item)
    }

    fn list(&self, name: &str) -> Option<Vec<String>> {
        list_argument(self.get(name)?, self.variables)
    }

    fn text(&self, name: &str) -> Option<String> {
        text_argument(self.get(name)?, self.variables)
    }

    /// A field of an input-object argument, set and not null.
    fn has_field(&self, name: &str, field: &str) -> bool {
        match self.get(name).and_then(|v| resolved(v, self.variables)) {
            Some(InputValue::Object(fields)) => {
                fields.iter().any(|(k, v)| k.item == field && resolved(&v.item, self.variables).is_some())
            }
            _ => false,
        }
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
    /// Notes the first `LocalDate` or `DateTime` in `value` (an argument or input field of type
    /// `ty`, variables resolved, input objects and lists walked) outside [`PLAUSIBLE_YEARS`].
    fn check_dates(&mut self, name: &str, ty: &juniper::Type, value: &InputValue) {
        if self.implausible.is_some() {
            return;
        }
        let Some(value) = resolved(value, self.variables) else { return };
        match value {
            InputValue::List(items) => {
                for item in items {
                    self.check_dates(name, ty, &item.item);
                }
            }
            InputValue::Object(fields) => {
                let Some(input) = self.schema.concrete_type_by_name(ty.innermost_name()) else { return };
                for (key, v) in fields {
                    if let Some(field) = input.input_field_by_name(&key.item) {
                        self.check_dates(&key.item, &field.arg_type, &v.item);
                    }
                }
            }
            InputValue::Scalar(DefaultScalarValue::String(text)) => {
                // The formats juniper's chrono scalars read; what they cannot read they refuse.
                let year = match ty.innermost_name() {
                    "LocalDate" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| d.year()),
                    "DateTime" => chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc().year()),
                    _ => None,
                };
                if year.is_some_and(|y| !PLAUSIBLE_YEARS.contains(&y)) {
                    self.implausible = Some(LimitError {
                        code: "BAD_USER_INPUT",
                        message: format!(
                            "{name}: {text} is not a plausible date (years {} to {})",
                            PLAUSIBLE_YEARS.start(),
                            PLAUSIBLE_YEARS.end()
                        ),
                    });
                }
            }
            _ => {}
        }
    }

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
                    let schema = self.schema;
                    let meta = schema.concrete_type_by_name(parent).and_then(|t| t.field_by_name(field.name.item));
                    let Some(meta) = meta else { continue };
                    let args = Arguments {
                        items: field.arguments.as_ref().map_or(&[][..], |a| &a.item.items),
                        variables: self.variables,
                    };
                    for (name, value) in args.items {
                        if let Some(arg) = meta.arguments.iter().flatten().find(|a| a.name == name.item) {
                            self.check_dates(name.item, &arg.arg_type, &value.item);
                        }
                    }
                    let Some(children) = &field.selection_set else { continue };
                    let child_type = meta.field_type.innermost_name().to_owned();
                    let first = args.get("first");
                    let (multiplier, connection) = match first {
                        Some(n) => (int_argument(n, self.variables).map_or(MAX_PAGE, |n| n.min(MAX_PAGE)).max(1), true),
                        // A connection's own edges and nodes are the page already charged.
                        None if in_connection && matches!(field.name.item, "edges" | "nodes") => (1, false),
                        // juniper's `is_list` misses `[T!]!`; the printed type does not.
                        None if meta.field_type.to_string().starts_with('[') => {
                            (list_size(parent, field.name.item, &args).max(1), false)
                        }
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

/// How many items a list field without `first` can return.
fn list_size(parent: &str, field: &str, args: &Arguments<'_>) -> u64 {
    match (parent, field) {
        ("Query", "kpiReport") => kpi_rows(args),
        ("Query", "incidentStatistics") => statistics_rows(args),
        ("Query" | "DesignationCoverage", "regions") => REGIONS,
        ("Query", "prefectures") if args.text("region").is_some() => LARGEST_REGION,
        ("Query" | "DesignationCoverage", "prefectures") => PREFECTURES,
        ("Region", "prefectures") => LARGEST_REGION,
        ("Query", "incidentFlowchart") => FLOWCHART_STEPS,
        ("Query" | "FlowchartStep", "ransomwarePoints") | ("Query", "ransomwarePreparedness") => RANSOMWARE_POINTS,
        ("ChecklistCatalog", "items") | ("ChecklistSubmission", "draftAnswers") | ("SubmissionRevision", "answers") => {
            CATALOG_ITEMS
        }
        ("Query", "checklistStatus") => OVERSEEN_HOSPITALS,
        _ => LIST_FANOUT,
    }
}

/// The most rows a `kpiReport` can return: fiscal years × metrics (each named item of
/// `ITEM_YES_RATE` one) × the sizes of the grouping dimensions, within the scope.
fn kpi_rows(args: &Arguments<'_>) -> u64 {
    use renkei_core::kpis::Metric;
    use renkei_core::registry::organisations::{BedBand, HospitalFunction};
    let years = args.list("fiscalYears").map_or(MAX_FISCAL_YEARS, |y| y.len() as u64);
    let metrics = match args.list("metrics") {
        Some(metrics) if !metrics.is_empty() => {
            let items = args.list("items").filter(|i| !i.is_empty()).map_or(UNNAMED_ITEMS, |i| i.len() as u64);
            metrics.iter().map(|m| if m == "ITEM_YES_RATE" { items } else { 1 }).sum()
        }
        _ => Metric::HEADLINE.len() as u64,
    };
    let in_prefecture = args.has_field("scope", "prefectureCode") || args.has_field("scope", "jurisdictionId");
    let in_region = args.has_field("scope", "regionCode");
    let groups = args.list("groupBy").unwrap_or_default();
    let by_prefecture = groups.iter().any(|g| g == "PREFECTURE");
    let cells: u64 = groups
        .iter()
        .map(|dimension| match dimension.as_str() {
            "BED_BAND" => BedBand::ALL.len() as u64,
            "PREFECTURE" if in_prefecture => 1,
            "PREFECTURE" if in_region => LARGEST_REGION,
            "PREFECTURE" => PREFECTURES,
            // A prefecture lies in one region.
            "REGION" if by_prefecture || in_prefecture || in_region => 1,
            "REGION" => REGIONS,
            "DESIGNATION" => 2,
            // Every function, and `none` for hospitals without one.
            "FUNCTION" => HospitalFunction::ALL.len() as u64 + 1,
            _ => 1,
        })
        .product();
    years.saturating_mul(metrics).saturating_mul(cells)
}

/// The most rows `incidentStatistics` can return: one per group, and the total.
fn statistics_rows(args: &Arguments<'_>) -> u64 {
    use renkei_core::incidents::{IncidentKind, InfectionVector};
    use renkei_core::registry::organisations::BedBand;
    let groups = match args.text("groupBy").as_deref() {
        Some("KIND") => IncidentKind::ALL.len() as u64,
        Some("INFECTION_VECTOR") => InfectionVector::ALL.len() as u64,
        Some("BED_BAND") => BedBand::ALL.len() as u64,
        Some("REGION") => REGIONS,
        Some("PREFECTURE") => PREFECTURES,
        _ => {
            let at = |name: &str| {
                args.text(name).and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.to_utc())
            };
            match (at("from"), at("until")) {
                // Months touched by the window, counting both ends.
                (Some(from), Some(until)) if until > from => {
                    let months = |t: chrono::DateTime<chrono::Utc>| i64::from(t.year()) * 12 + i64::from(t.month0());
                    u64::try_from(months(until) - months(from) + 1).unwrap_or(UNKNOWN_MONTHS)
                }
                (Some(_), Some(_)) => 1,
                _ => UNKNOWN_MONTHS,
            }
        }
    };
    groups.saturating_add(1)
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
    // Variables the request leaves out take their defaults, as they will when the operation runs.
    let mut with_defaults = variables.clone();
    for (name, definition) in op.variables_definition.iter().flat_map(|d| &d.item.items) {
        if let Some(default) = &definition.default_value
            && !with_defaults.contains_key(name.item)
        {
            with_defaults.insert(name.item.to_owned(), default.item.clone());
        }
    }
    let variables = &with_defaults;
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
    let mut walk = Walk { schema, fragments, variables, aliases: 0, implausible: None };
    let cost = walk.cost(&root, &op.selection_set, false, &mut Vec::new());
    if let Some(e) = walk.implausible {
        return Err(e);
    }
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

#[cfg(test)]
#[allow(clippy::expect_used)] // tests stop loudly on what they cannot set up
mod tests {
    use super::*;

    const ROW: &str =
        "{ fiscalYear metric item bedBand prefectureCode designated function numerator denominator rate suppressed }";

    fn cost(query: &str, variables: serde_json::Value) -> Result<u64, LimitError> {
        let schema = crate::schema();
        let document = juniper::parser::parse_document_source(query, &schema.schema)
            .map_err(|e| LimitError { code: "GRAPHQL_PARSE_FAILED", message: e.to_string() })?;
        let variables: Variables = serde_json::from_value(variables).unwrap_or_default();
        analyse(&schema.schema, &document, None, &variables, &Limits::default()).map(|a| a.cost)
    }

    #[test]
    fn the_dashboards_national_report_fits_the_budget() {
        // 3 years × 8 headline KPIs × 47 prefectures × 7 bed bands.
        let query = format!("{{ kpiReport(fiscalYears: [2022, 2023, 2024], groupBy: [PREFECTURE, BED_BAND]) {ROW} }}");
        assert_eq!(cost(&query, serde_json::json!({})), Ok(7_896));
        let by_variables =
            format!("query($fy: [Int!]!, $by: [KpiDimension!]) {{ kpiReport(fiscalYears: $fy, groupBy: $by) {ROW} }}");
        let variables = serde_json::json!({ "fy": [2022, 2023, 2024], "by": ["BED_BAND", "PREFECTURE"] });
        assert_eq!(cost(&by_variables, variables), Ok(7_896));
        let defaults = format!(
            "query($fy: [Int!]! = [2022, 2023, 2024], $by: [KpiDimension!] = [PREFECTURE, BED_BAND]) \
             {{ kpiReport(fiscalYears: $fy, groupBy: $by) {ROW} }}"
        );
        assert_eq!(cost(&defaults, serde_json::json!({})), Ok(7_896));
    }

    #[test]
    fn a_report_by_every_dimension_and_metric_is_refused_with_its_cost() {
        let query = format!(
            "{{ kpiReport(fiscalYears: [2022, 2023, 2024], groupBy: [PREFECTURE, BED_BAND, DESIGNATION, FUNCTION], \
             metrics: [SUBMISSION_RATE, BCP_RATE, EHR_BACKUP_RATE, OFFLINE_BACKUP_RATE, SECURITY_MANAGER_RATE, \
             FULL_COMPLIANCE_RATE, ITEM_YES_RATE, OVERDUE_IMPROVEMENTS, ADDON1_READINESS_RATE]) {ROW} }}"
        );
        // 3 years × (8 KPIs + 50 items) × 47 × 7 × 2 × 9 (eight functions and none).
        let refused = cost(&query, serde_json::json!({})).expect_err("over the budget");
        assert_eq!(refused.code, "QUERY_TOO_COMPLEX");
        assert!(refused.message.contains("1030428"), "{}", refused.message);
        // One year of the headline KPIs by the same dimensions is still too much.
        let one_year = format!(
            "{{ kpiReport(fiscalYears: [2024], groupBy: [PREFECTURE, BED_BAND, DESIGNATION, FUNCTION]) {ROW} }}"
        );
        assert_eq!(cost(&one_year, serde_json::json!({})).map_err(|e| e.code), Err("QUERY_TOO_COMPLEX"));
    }

    #[test]
    fn a_reports_scope_and_named_items_narrow_its_cost() {
        // In one prefecture, prefecture and region are one group each: 3 × 8 × 7.
        let query = format!(
            "{{ kpiReport(fiscalYears: [2022, 2023, 2024], scope: {{ prefectureCode: 13 }}, \
             groupBy: [PREFECTURE, REGION, BED_BAND]) {ROW} }}"
        );
        assert_eq!(cost(&query, serde_json::json!({})), Ok(168));
        // Two named items by region: 1 × 2 × 8.
        let items = format!(
            "{{ kpiReport(fiscalYears: 2024, groupBy: REGION, metrics: ITEM_YES_RATE, items: [\"1-1\", \"2-1\"]) {ROW} }}"
        );
        assert_eq!(cost(&items, serde_json::json!({})), Ok(16));
    }

    #[test]
    fn aliased_reports_add_up() {
        // One year by prefecture and bed band is 2,632; four of them are not.
        let one = format!("kpiReport(fiscalYears: [2024], groupBy: [PREFECTURE, BED_BAND]) {ROW}");
        let three = format!("{{ a: {one} b: {one} c: {one} }}");
        assert_eq!(cost(&three, serde_json::json!({})), Ok(7_896));
        let four = format!("{{ a: {one} b: {one} c: {one} d: {one} }}");
        assert_eq!(cost(&four, serde_json::json!({})).map_err(|e| e.code), Err("QUERY_TOO_COMPLEX"));
    }

    #[test]
    fn incident_statistics_by_month_follow_the_window() {
        let query = "query($from: DateTime!, $until: DateTime!) { incidentStatistics(from: $from, until: $until, groupBy: MONTH) { key incidents } }";
        // April 2025 to April 2026 touches 13 months, and the total row.
        let year = serde_json::json!({ "from": "2025-04-01T00:00:00+09:00", "until": "2026-04-01T00:00:00+09:00" });
        assert_eq!(cost(query, year), Ok(14));
        // The widest window dates allow: two centuries of months.
        let ages = serde_json::json!({ "from": "1900-01-01T00:00:00Z", "until": "2100-12-31T00:00:00Z" });
        assert_eq!(cost(query, ages), Ok(2_413));
        let by_prefecture = "{ incidentStatistics(from: \"2025-04-01T00:00:00Z\", until: \"2026-04-01T00:00:00Z\", groupBy: PREFECTURE) { key } }";
        assert_eq!(cost(by_prefecture, serde_json::json!({})), Ok(48));
    }

    #[test]
    fn reference_lists_are_charged_their_size() {
        assert_eq!(cost("{ prefectures { code } }", serde_json::json!({})), Ok(47));
        assert_eq!(cost("{ regions { prefectures { code } } }", serde_json::json!({})), Ok(8 * (9 + 1)));
        assert_eq!(cost("{ incidentFlowchart { ransomwarePoints { no } } }", serde_json::json!({})), Ok(37 * 12));
    }

    #[test]
    fn dates_outside_the_plausible_years_are_bad_user_input() {
        let refused =
            |query: &str, variables: serde_json::Value| cost(query, variables).map_err(|e| (e.code, e.message));
        let window = "mutation($closes: LocalDate!) { setSubmissionWindow(fiscalYear: 2026, opensOn: \"2026-04-01\", closesOn: $closes) { fiscalYear } }";
        for closes in ["+200000-03-31", "-5000-01-01", "9999-03-31"] {
            let answer = refused(window, serde_json::json!({ "closes": closes }));
            assert!(
                matches!(&answer, Err(("BAD_USER_INPUT", m)) if m.starts_with("closesOn:")),
                "{closes}: {answer:?}"
            );
        }
        assert!(refused(window, serde_json::json!({ "closes": "2027-03-31" })).is_ok());
        // Inside input objects, and as literals of a query.
        let task = "mutation { addIncidentTask(id: \"x\", input: { title: \"t\", dueOn: \"1066-10-14\" }) { id } }";
        assert!(matches!(refused(task, serde_json::json!({})), Err(("BAD_USER_INPUT", m)) if m.starts_with("dueOn:")));
        let coverage = "{ designationCoverage(asOf: \"0001-01-01\") { asOf } }";
        assert_eq!(refused(coverage, serde_json::json!({})).map_err(|e| e.0), Err("BAD_USER_INPUT"));
        let events = "{ incidents(first: 5, filter: { discoveredFrom: \"0001-01-01T00:00:00Z\" }) { totalCount } }";
        assert_eq!(refused(events, serde_json::json!({})).map_err(|e| e.0), Err("BAD_USER_INPUT"));
        // A variable's default is what the operation would run with.
        let defaulted = "query($d: LocalDate = \"-5000-01-01\") { designationCoverage(asOf: $d) { asOf } }";
        assert_eq!(refused(defaulted, serde_json::json!({})).map_err(|e| e.0), Err("BAD_USER_INPUT"));
        assert!(refused(defaulted, serde_json::json!({ "d": "2026-04-01" })).is_ok());
    }
}
