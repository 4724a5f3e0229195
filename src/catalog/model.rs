//! The typed schema model that `inspect` fills and `render` prints.
//!
//! Everything here is plain data, sorted deterministically by `inspect` (byte order of
//! names, never the database's collation) so that two equivalent databases produce
//! equal values. Nothing that varies between equivalent databases is stored: no OIDs,
//! no attnums, no relfilenodes, no creation order.

use serde::Serialize;

/// A schema-qualified object name, unquoted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> QualifiedName {
        QualifiedName {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

/// The whole inspected schema; one vector per kind, each sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schema {
    pub schemas: Vec<SchemaDef>,
    pub extensions: Vec<Extension>,
    pub collations: Vec<Collation>,
    pub enums: Vec<EnumType>,
    pub domains: Vec<Domain>,
    pub composites: Vec<CompositeType>,
    pub ranges: Vec<RangeType>,
    pub sequences: Vec<Sequence>,
    pub functions: Vec<Function>,
    pub casts: Vec<Cast>,
    pub tables: Vec<Table>,
    pub views: Vec<View>,
    pub materialized_views: Vec<View>,
    pub indexes: Vec<Index>,
    pub statistics: Vec<Statistics>,
    pub triggers: Vec<Trigger>,
    pub policies: Vec<Policy>,
    pub rules: Vec<Rule>,
    pub foreign_data_wrappers: Vec<ForeignDataWrapper>,
    pub foreign_servers: Vec<ForeignServer>,
    pub foreign_tables: Vec<ForeignTable>,
    pub publications: Vec<Publication>,
    pub event_triggers: Vec<EventTrigger>,
    /// The major of the server the schema was read on; not part of the schema (see
    /// [`ServerMajor`]).
    #[serde(skip)]
    pub server_major: ServerMajor,
}

/// The major version of the server a schema was read on (`None`: built by hand). Some
/// statements differ by major (PostgreSQL 18 names every NOT NULL constraint, so a
/// renamed column's constraint is renamed too), and the diff engine, which has no
/// server, learns it here. It is not part of the schema: two schemas read on different
/// majors compare equal when their objects do, and the dump does not show it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerMajor(pub Option<u32>);

impl ServerMajor {
    /// From `server_version_num` (180001 is 18).
    pub fn from_version_num(version: i32) -> ServerMajor {
        ServerMajor(u32::try_from(version / 10000).ok())
    }

    /// Whether the server is known to be at least `major`.
    pub fn at_least(self, major: u32) -> bool {
        self.0.is_some_and(|m| m >= major)
    }
}

impl PartialEq for ServerMajor {
    fn eq(&self, _: &ServerMajor) -> bool {
        true
    }
}

impl Eq for ServerMajor {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaDef {
    pub name: String,
    pub comment: Option<String>,
    /// Only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s, sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extension {
    pub name: String,
    pub version: String,
    pub schema: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnumType {
    pub name: QualifiedName,
    /// In sort order (`enumsortorder`), which is the order that matters.
    pub labels: Vec<String>,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub acl: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Domain {
    pub name: QualifiedName,
    /// `format_type` of the base type, typmod included.
    pub base_type: String,
    /// Only when it differs from the base type's default collation.
    pub collation: Option<String>,
    pub default: Option<String>,
    pub not_null: bool,
    /// CHECK constraints, sorted by name.
    pub checks: Vec<Constraint>,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub acl: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompositeType {
    pub name: QualifiedName,
    /// Attributes in declaration order (only name, type, collation and comment apply).
    pub attributes: Vec<Column>,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub acl: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeType {
    pub name: QualifiedName,
    pub subtype: String,
    /// Only when not the subtype's default operator class.
    pub subtype_opclass: Option<String>,
    /// Only when not the subtype's default collation.
    pub collation: Option<String>,
    pub canonical: Option<String>,
    pub subtype_diff: Option<String>,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub acl: Vec<String>,
}

/// The options shared by sequences and identity columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequenceOptions {
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cache: i64,
    pub cycle: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sequence {
    pub name: QualifiedName,
    pub options: SequenceOptions,
    /// `OWNED BY table.column` (serial-style ownership).
    pub owned_by: Option<(QualifiedName, String)>,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub acl: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionKind {
    Function,
    Procedure,
    Aggregate,
    Window,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Function {
    pub name: QualifiedName,
    /// `pg_get_function_identity_arguments`: with the name, identifies the function.
    pub arguments: String,
    pub kind: FunctionKind,
    /// The full `CREATE` statement without trailing semicolon: `pg_get_functiondef`, or
    /// for aggregates a `CREATE AGGREGATE` built from `pg_aggregate`.
    pub definition: String,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub acl: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionOf {
    pub parent: QualifiedName,
    /// `pg_get_expr(relpartbound)`: `FOR VALUES ...` or `DEFAULT`.
    pub bound: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub name: QualifiedName,
    pub unlogged: bool,
    /// `pg_get_partkeydef` of a partitioned table, e.g. `RANGE (happened_on)`.
    pub partition_key: Option<String>,
    pub partition_of: Option<PartitionOf>,
    /// Inheritance parents (not partition parents), in `inhseqno` order.
    pub inherits: Vec<QualifiedName>,
    /// Table access method, only when not `heap`.
    pub access_method: Option<String>,
    /// Storage parameters (`reloptions`), sorted.
    pub options: Vec<String>,
    pub row_security: bool,
    pub force_row_security: bool,
    /// `FULL`, `NOTHING` or `USING INDEX name`; `None` for the default.
    pub replica_identity: Option<String>,
    /// The index named by `ALTER TABLE ... CLUSTER ON`.
    pub cluster_on: Option<String>,
    /// In attnum order (dropped columns skipped).
    pub columns: Vec<Column>,
    /// Local constraints (not inherited or cloned from a partition parent), by name.
    pub constraints: Vec<Constraint>,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub acl: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `GENERATED ALWAYS` (true) or `BY DEFAULT` (false).
    pub always: bool,
    /// The identity sequence's name.
    pub sequence: QualifiedName,
    pub options: SequenceOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    /// `format_type(atttypid, atttypmod)`, schema-qualified outside pg_catalog.
    pub data_type: String,
    /// Only when not the type's default collation.
    pub collation: Option<String>,
    pub not_null: bool,
    /// What a column's NOT NULL has besides the plain clause: PostgreSQL 18 records it
    /// as a constraint, with a name, `NO INHERIT` and `NOT VALID`. `None` when there is
    /// nothing more (always before 18), so a plain schema reads the same on every major.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_null_constraint: Option<NotNullConstraint>,
    pub default: Option<String>,
    pub identity: Option<Identity>,
    /// Expression of a `GENERATED ALWAYS AS (...)` column.
    pub generated: Option<String>,
    /// The generated column is computed when read (`VIRTUAL`, PostgreSQL 18's default
    /// kind), not `STORED`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub generated_virtual: bool,
    pub comment: Option<String>,
    /// Column-level privileges (`attacl`), sorted; only with grants.
    pub acl: Vec<String>,
    /// `SET STATISTICS n`, when set.
    pub statistics: Option<i32>,
    /// `SET STORAGE`, when it differs from the type's default.
    pub storage: Option<String>,
}

/// A column's NOT NULL constraint as PostgreSQL 18 records it, when it is more than the
/// plain clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotNullConstraint {
    /// Its name, when not the one PostgreSQL gives (`<table>_<column>_not_null`, or the
    /// parent's constraint's name for an inherited one: those are not compared).
    pub name: Option<String>,
    /// `NO INHERIT`: children do not get it.
    pub no_inherit: bool,
    /// `NOT VALID`: existing rows are not checked (`attnotnull` is set all the same).
    pub not_valid: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
    Exclusion,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
    /// `pg_get_constraintdef`: includes actions, MATCH, DEFERRABLE and NOT VALID.
    pub definition: String,
    pub deferrable: bool,
    pub initially_deferred: bool,
    pub validated: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct View {
    pub name: QualifiedName,
    /// `pg_get_viewdef(oid, true)`, without trailing semicolon.
    pub definition: String,
    /// `reloptions` (security_barrier, check_option, ...), sorted.
    pub options: Vec<String>,
    /// Output columns; carry comments and defaults (`ALTER VIEW ... SET DEFAULT`).
    pub columns: Vec<Column>,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub acl: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Index {
    pub name: QualifiedName,
    /// The table or materialized view (same schema as the index).
    pub table: QualifiedName,
    pub method: String,
    pub unique: bool,
    /// The WHERE clause of a partial index.
    pub predicate: Option<String>,
    /// `pg_get_indexdef`: the complete `CREATE INDEX` statement.
    pub definition: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trigger {
    pub table: QualifiedName,
    pub name: String,
    /// `pg_get_triggerdef`.
    pub definition: String,
    /// `origin` (the default), `disabled`, `replica` or `always`.
    pub enabled: String,
    /// A partition's clone of its parent's trigger, listed only for its enabled state.
    pub cloned: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub table: QualifiedName,
    pub name: String,
    pub permissive: bool,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    /// Role names, sorted; `public` for PUBLIC.
    pub roles: Vec<String>,
    pub using: Option<String>,
    pub with_check: Option<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub table: QualifiedName,
    pub name: String,
    /// `pg_get_ruledef`, without trailing semicolon.
    pub definition: String,
    pub enabled: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventTrigger {
    pub name: String,
    pub event: String,
    pub function: QualifiedName,
    pub enabled: String,
    /// `WHEN TAG IN (...)`, sorted.
    pub tags: Vec<String>,
    pub comment: Option<String>,
    pub owner: Option<String>,
}

/// A user-defined collation (`CREATE COLLATION`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collation {
    pub name: QualifiedName,
    /// `libc`, `icu` or `builtin`.
    pub provider: String,
    /// ICU / builtin locale (`colliculocale`, `colllocale` since 17).
    pub locale: Option<String>,
    /// libc only.
    pub lc_collate: Option<String>,
    pub lc_ctype: Option<String>,
    /// ICU tailoring rules (16+).
    pub rules: Option<String>,
    pub deterministic: bool,
    pub comment: Option<String>,
    pub owner: Option<String>,
}

/// A user-defined cast (`CREATE CAST`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cast {
    /// `format_type` of the source and target types.
    pub source: String,
    pub target: String,
    /// `function`, `binary` (WITHOUT FUNCTION) or `inout` (WITH INOUT).
    pub method: String,
    /// The function as `regprocedure` text, for method `function`.
    pub function: Option<String>,
    /// `explicit`, `assignment` or `implicit`.
    pub context: String,
    pub comment: Option<String>,
}

/// An extended statistics object (`CREATE STATISTICS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statistics {
    pub name: QualifiedName,
    pub table: QualifiedName,
    /// `pg_get_statisticsobjdef`: the complete `CREATE STATISTICS` statement.
    pub definition: String,
    /// `ALTER STATISTICS ... SET STATISTICS n`, when set.
    pub target: Option<i32>,
    pub comment: Option<String>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignDataWrapper {
    pub name: String,
    /// `regproc` text of the handler and validator functions.
    pub handler: Option<String>,
    pub validator: Option<String>,
    /// Raw `key=value` options, sorted.
    pub options: Vec<String>,
    pub comment: Option<String>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignServer {
    pub name: String,
    pub wrapper: String,
    pub server_type: Option<String>,
    pub version: Option<String>,
    /// Raw `key=value` options, sorted.
    pub options: Vec<String>,
    pub comment: Option<String>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignTable {
    pub name: QualifiedName,
    pub server: String,
    /// Raw `key=value` options, sorted.
    pub options: Vec<String>,
    /// Inheritance parents, in `inhseqno` order.
    pub inherits: Vec<QualifiedName>,
    pub partition_of: Option<PartitionOf>,
    /// In attnum order.
    pub columns: Vec<Column>,
    /// CHECK constraints, by name.
    pub constraints: Vec<Constraint>,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub acl: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publication {
    pub name: String,
    pub all_tables: bool,
    /// `schema.table [(columns)] [WHERE (...)]`, quoted, sorted.
    pub tables: Vec<String>,
    /// `FOR TABLES IN SCHEMA` (15+), sorted.
    pub schemas: Vec<String>,
    /// `insert`, `update`, `delete`, `truncate`, in that order.
    pub publish: Vec<String>,
    pub via_root: bool,
    pub comment: Option<String>,
    pub owner: Option<String>,
}
