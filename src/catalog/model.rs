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
    /// The schema (`pg_namespace.nspname`), unquoted.
    pub schema: String,
    /// The name within the schema, unquoted.
    pub name: String,
}

impl QualifiedName {
    /// A name from its schema and object name, both unquoted.
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
    /// Schemas (pg_namespace), without the system ones (`pg_catalog`,
    /// `information_schema`, `pg_toast*`, `pg_temp_*`) and those an extension created.
    pub schemas: Vec<SchemaDef>,
    /// Extensions installed in a schema read; the objects they create are left out of
    /// every other list (`CREATE EXTENSION` makes them).
    pub extensions: Vec<Extension>,
    /// User-defined collations.
    pub collations: Vec<Collation>,
    /// Enum types.
    pub enums: Vec<EnumType>,
    /// Domains, with their CHECK constraints.
    pub domains: Vec<Domain>,
    /// Standalone composite types (`CREATE TYPE ... AS (...)`), not the row types of
    /// tables.
    pub composites: Vec<CompositeType>,
    /// Range types; their multirange types and constructors come with them.
    pub ranges: Vec<RangeType>,
    /// Sequences, except identity sequences (see [`Column::identity`]) and sequences
    /// owned by an excluded table.
    pub sequences: Vec<Sequence>,
    /// Functions, procedures and aggregates, by name then identity arguments; routines a
    /// type made for itself (range constructors) are left out.
    pub functions: Vec<Function>,
    /// User-defined casts whose source type, target type or function is in a schema read.
    pub casts: Vec<Cast>,
    /// Ordinary and partitioned tables, partitions included (relkind `r` and `p`), minus
    /// [`InspectOptions::exclude_tables`](super::InspectOptions::exclude_tables).
    pub tables: Vec<Table>,
    /// Plain views (relkind `v`).
    pub views: Vec<View>,
    /// Materialized views (relkind `m`), in the same shape as views.
    pub materialized_views: Vec<View>,
    /// Indexes of tables and materialized views, except those backing a primary key,
    /// unique or exclusion constraint (the constraint makes them) and partitions of a
    /// partitioned index (the parent index makes them).
    pub indexes: Vec<Index>,
    /// Extended statistics objects (pg_statistic_ext).
    pub statistics: Vec<Statistics>,
    /// Triggers, by (table, name); internal ones (those of foreign keys) are left out.
    pub triggers: Vec<Trigger>,
    /// Row-level security policies, by (table, name).
    pub policies: Vec<Policy>,
    /// Rewrite rules, by (table, name); a view's `_RETURN` rule is its definition and is
    /// not listed.
    pub rules: Vec<Rule>,
    /// Foreign-data wrappers; not in a schema, so the schema filters do not apply.
    pub foreign_data_wrappers: Vec<ForeignDataWrapper>,
    /// Foreign servers; not in a schema, so the schema filters do not apply.
    pub foreign_servers: Vec<ForeignServer>,
    /// Foreign tables (relkind `f`).
    pub foreign_tables: Vec<ForeignTable>,
    /// Publications; with schema filters, only those publishing a table or schema read.
    pub publications: Vec<Publication>,
    /// Event triggers whose function is in a schema read.
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

/// A schema (`CREATE SCHEMA`), one pg_namespace row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaDef {
    /// `nspname`, unquoted.
    pub name: String,
    /// The `COMMENT ON` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// Only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s, sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

/// An installed extension (pg_extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extension {
    /// `extname`, unquoted.
    pub name: String,
    /// `extversion`: the installed version, as `ALTER EXTENSION ... UPDATE TO` names it.
    pub version: String,
    /// The schema holding its objects (`extnamespace`), unquoted.
    pub schema: String,
    /// The `COMMENT ON` text (pg_description); `None` without one.
    pub comment: Option<String>,
}

/// An enum type (`CREATE TYPE ... AS ENUM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnumType {
    /// The type's name.
    pub name: QualifiedName,
    /// In sort order (`enumsortorder`), which is the order that matters.
    pub labels: Vec<String>,
    /// The `COMMENT ON` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s (`typacl`), sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

/// A domain (`CREATE DOMAIN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Domain {
    /// The domain's name.
    pub name: QualifiedName,
    /// `format_type` of the base type, typmod included.
    pub base_type: String,
    /// Only when it differs from the base type's default collation.
    pub collation: Option<String>,
    /// The `DEFAULT` expression (`pg_get_expr(typdefaultbin)`), `None` without one.
    pub default: Option<String>,
    /// `typnotnull`: the domain is declared `NOT NULL`.
    pub not_null: bool,
    /// CHECK constraints, sorted by name.
    pub checks: Vec<Constraint>,
    /// The `COMMENT ON` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s (`typacl`), sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

/// A standalone composite type (`CREATE TYPE ... AS (...)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompositeType {
    /// The type's name.
    pub name: QualifiedName,
    /// Attributes in declaration order (only name, type, collation and comment apply).
    pub attributes: Vec<Column>,
    /// The `COMMENT ON` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s (`typacl`), sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

/// A range type (`CREATE TYPE ... AS RANGE`), one pg_range row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeType {
    /// The type's name.
    pub name: QualifiedName,
    /// `format_type` of `rngsubtype`, without typmod.
    pub subtype: String,
    /// Only when not the subtype's default operator class.
    pub subtype_opclass: Option<String>,
    /// Only when not the subtype's default collation.
    pub collation: Option<String>,
    /// The `CANONICAL` function (`rngcanonical`) as `regproc` text; `None` without one.
    pub canonical: Option<String>,
    /// The `SUBTYPE_DIFF` function (`rngsubdiff`) as `regproc` text; `None` without one.
    pub subtype_diff: Option<String>,
    /// The `COMMENT ON` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s (`typacl`), sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

/// The options shared by sequences and identity columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequenceOptions {
    /// `AS type`: `format_type` of `seqtypid` (`bigint`, `integer` or `smallint`).
    pub data_type: String,
    /// `START WITH` (`seqstart`); not the current value, which is data.
    pub start: i64,
    /// `INCREMENT BY` (`seqincrement`).
    pub increment: i64,
    /// `MINVALUE` (`seqmin`): always a number, PostgreSQL's default when not declared.
    pub min: i64,
    /// `MAXVALUE` (`seqmax`): always a number, PostgreSQL's default when not declared.
    pub max: i64,
    /// `CACHE` (`seqcache`).
    pub cache: i64,
    /// `CYCLE` (`seqcycle`).
    pub cycle: bool,
}

/// A sequence (`CREATE SEQUENCE`), identity sequences excepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sequence {
    /// The sequence's name.
    pub name: QualifiedName,
    /// Its definition; its current value is data and not read.
    pub options: SequenceOptions,
    /// `OWNED BY table.column` (serial-style ownership).
    pub owned_by: Option<(QualifiedName, String)>,
    /// The `COMMENT ON` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s (`relacl`), sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

/// What kind of routine a [`Function`] is: `pg_proc.prokind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionKind {
    /// `prokind = 'f'`: a plain function.
    Function,
    /// `prokind = 'p'`: a procedure (`CREATE PROCEDURE`, run with `CALL`).
    Procedure,
    /// `prokind = 'a'`: an aggregate (`CREATE AGGREGATE`).
    Aggregate,
    /// `prokind = 'w'`: a window function (`CREATE FUNCTION ... WINDOW`).
    Window,
}

/// A function, procedure or aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Function {
    /// The routine's name; overloads share it and differ in `arguments`.
    pub name: QualifiedName,
    /// `pg_get_function_identity_arguments`: with the name, identifies the function.
    pub arguments: String,
    /// Picks the keyword of `DROP` and `COMMENT ON` (`FUNCTION`, `PROCEDURE`, `AGGREGATE`).
    pub kind: FunctionKind,
    /// The full `CREATE` statement without trailing semicolon: `pg_get_functiondef`, or
    /// for aggregates a `CREATE AGGREGATE` built from `pg_aggregate`.
    pub definition: String,
    /// The `COMMENT ON` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s (`proacl`), sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

/// Where a partition hangs: `PARTITION OF parent FOR VALUES ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionOf {
    /// The partitioned table (the partition's one pg_inherits parent).
    pub parent: QualifiedName,
    /// `pg_get_expr(relpartbound)`: `FOR VALUES ...` or `DEFAULT`.
    pub bound: String,
}

/// A table: ordinary, partitioned, or a partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// The table's name.
    pub name: QualifiedName,
    /// `relpersistence = 'u'`: `CREATE UNLOGGED TABLE`.
    pub unlogged: bool,
    /// `pg_get_partkeydef` of a partitioned table, e.g. `RANGE (happened_on)`.
    pub partition_key: Option<String>,
    /// For a partition, its parent and bound; `None` for any other table.
    pub partition_of: Option<PartitionOf>,
    /// Inheritance parents (not partition parents), in `inhseqno` order.
    pub inherits: Vec<QualifiedName>,
    /// Table access method, only when not `heap`.
    pub access_method: Option<String>,
    /// Storage parameters (`reloptions`), sorted.
    pub options: Vec<String>,
    /// `relrowsecurity`: `ENABLE ROW LEVEL SECURITY`.
    pub row_security: bool,
    /// `relforcerowsecurity`: `FORCE ROW LEVEL SECURITY` (policies apply to the owner too).
    pub force_row_security: bool,
    /// `FULL`, `NOTHING` or `USING INDEX name`; `None` for the default.
    pub replica_identity: Option<String>,
    /// The index named by `ALTER TABLE ... CLUSTER ON`.
    pub cluster_on: Option<String>,
    /// In attnum order (dropped columns skipped).
    pub columns: Vec<Column>,
    /// Local constraints (not inherited or cloned from a partition parent), by name.
    pub constraints: Vec<Constraint>,
    /// The `COMMENT ON` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s (`relacl`), sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

/// An identity column's generation (`attidentity`) and its sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `GENERATED ALWAYS` (true) or `BY DEFAULT` (false).
    pub always: bool,
    /// The identity sequence's name.
    pub sequence: QualifiedName,
    /// The identity sequence's options (`GENERATED ... AS IDENTITY (...)`).
    pub options: SequenceOptions,
}

/// A column of a table, view, foreign table, or an attribute of a composite type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// `attname`, unquoted.
    pub name: String,
    /// `format_type(atttypid, atttypmod)`, schema-qualified outside pg_catalog.
    pub data_type: String,
    /// Only when not the type's default collation.
    pub collation: Option<String>,
    /// `attnotnull`: set by a `NOT NULL` and by a primary key alike.
    pub not_null: bool,
    /// What a column's NOT NULL has besides the plain clause: PostgreSQL 18 records it
    /// as a constraint, with a name, `NO INHERIT` and `NOT VALID`. `None` when there is
    /// nothing more (always before 18), so a plain schema reads the same on every major.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_null_constraint: Option<NotNullConstraint>,
    /// The `DEFAULT` expression (`pg_get_expr(adbin)`); `None` for a generated column,
    /// whose expression is in `generated`.
    pub default: Option<String>,
    /// `GENERATED ... AS IDENTITY`; `None` for a column that is not an identity.
    pub identity: Option<Identity>,
    /// Expression of a `GENERATED ALWAYS AS (...)` column.
    pub generated: Option<String>,
    /// The generated column is computed when read (`VIRTUAL`, PostgreSQL 18's default
    /// kind), not `STORED`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub generated_virtual: bool,
    /// The `COMMENT ON COLUMN` text (pg_description); `None` without one.
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

/// A table constraint's kind: `pg_constraint.contype` (NOT NULL aside, see
/// [`NotNullConstraint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    /// `contype = 'p'`: `PRIMARY KEY`.
    PrimaryKey,
    /// `contype = 'u'`: `UNIQUE`.
    Unique,
    /// `contype = 'f'`: `FOREIGN KEY ... REFERENCES`.
    ForeignKey,
    /// `contype = 'c'`: `CHECK`, on a table or a domain.
    Check,
    /// `contype = 'x'`: `EXCLUDE`.
    Exclusion,
}

/// A table constraint or a domain's CHECK constraint (pg_constraint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Constraint {
    /// `conname`, unquoted.
    pub name: String,
    /// Primary key, unique, foreign key, check or exclusion.
    pub kind: ConstraintKind,
    /// `pg_get_constraintdef`: includes actions, MATCH, DEFERRABLE and NOT VALID.
    pub definition: String,
    /// `condeferrable`: `DEFERRABLE` (also in `definition`).
    pub deferrable: bool,
    /// `condeferred`: `INITIALLY DEFERRED` (also in `definition`).
    pub initially_deferred: bool,
    /// `convalidated`: false for a constraint added `NOT VALID` and not validated since.
    pub validated: bool,
    /// The `COMMENT ON CONSTRAINT` text (pg_description); `None` without one.
    pub comment: Option<String>,
}

/// A view or a materialized view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct View {
    /// The view's name.
    pub name: QualifiedName,
    /// `pg_get_viewdef(oid, true)`, without trailing semicolon.
    pub definition: String,
    /// `reloptions` (security_barrier, check_option, ...), sorted.
    pub options: Vec<String>,
    /// Output columns; carry comments and defaults (`ALTER VIEW ... SET DEFAULT`).
    pub columns: Vec<Column>,
    /// The `COMMENT ON` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s (`relacl`), sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

/// An index of its own (`CREATE INDEX`), not one a constraint makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Index {
    /// The index's name; an index is always in its table's schema.
    pub name: QualifiedName,
    /// The table or materialized view (same schema as the index).
    pub table: QualifiedName,
    /// The access method (`pg_am.amname`): `btree`, `gin`, `gist`, ...
    pub method: String,
    /// `indisunique`: `CREATE UNIQUE INDEX`.
    pub unique: bool,
    /// The WHERE clause of a partial index.
    pub predicate: Option<String>,
    /// `pg_get_indexdef`: the complete `CREATE INDEX` statement.
    pub definition: String,
    /// The `COMMENT ON INDEX` text (pg_description); `None` without one.
    pub comment: Option<String>,
}

/// A trigger on a table (pg_trigger), internal triggers excepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trigger {
    /// The table it is on.
    pub table: QualifiedName,
    /// `tgname`, unquoted; unique per table only.
    pub name: String,
    /// `pg_get_triggerdef`.
    pub definition: String,
    /// `origin` (the default), `disabled`, `replica` or `always`.
    pub enabled: String,
    /// A partition's clone of its parent's trigger, listed only for its enabled state.
    pub cloned: bool,
    /// The `COMMENT ON TRIGGER` text (pg_description); `None` without one.
    pub comment: Option<String>,
}

/// A row-level security policy (`CREATE POLICY`, pg_policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// The table it is on.
    pub table: QualifiedName,
    /// `polname`, unquoted; unique per table only.
    pub name: String,
    /// `polpermissive`: `AS PERMISSIVE` (true) or `AS RESTRICTIVE` (false).
    pub permissive: bool,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    /// Role names, sorted; `public` for PUBLIC.
    pub roles: Vec<String>,
    /// The `USING (...)` expression (`polqual`); `None` without one.
    pub using: Option<String>,
    /// The `WITH CHECK (...)` expression (`polwithcheck`); `None` without one.
    pub with_check: Option<String>,
    /// The `COMMENT ON POLICY` text (pg_description); `None` without one.
    pub comment: Option<String>,
}

/// A rewrite rule (`CREATE RULE`, pg_rewrite), views' `_RETURN` rules excepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// The table or view it is on.
    pub table: QualifiedName,
    /// `rulename`, unquoted; unique per relation only.
    pub name: String,
    /// `pg_get_ruledef`, without trailing semicolon.
    pub definition: String,
    /// `ev_enabled`: `origin` (the default), `disabled`, `replica` or `always`.
    pub enabled: String,
    /// The `COMMENT ON RULE` text (pg_description); `None` without one.
    pub comment: Option<String>,
}

/// An event trigger (`CREATE EVENT TRIGGER`, pg_event_trigger).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventTrigger {
    /// `evtname`, unquoted; event triggers are not in a schema.
    pub name: String,
    /// `evtevent`: `ddl_command_start`, `ddl_command_end`, `sql_drop`, ...
    pub event: String,
    /// The function it executes.
    pub function: QualifiedName,
    /// `evtenabled`: `origin` (the default), `disabled`, `replica` or `always`.
    pub enabled: String,
    /// `WHEN TAG IN (...)`, sorted.
    pub tags: Vec<String>,
    /// The `COMMENT ON EVENT TRIGGER` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
}

/// A user-defined collation (`CREATE COLLATION`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collation {
    /// The collation's name.
    pub name: QualifiedName,
    /// `libc`, `icu` or `builtin`.
    pub provider: String,
    /// ICU / builtin locale (`colliculocale`, `colllocale` since 17).
    pub locale: Option<String>,
    /// libc only.
    pub lc_collate: Option<String>,
    /// `collctype`; libc only.
    pub lc_ctype: Option<String>,
    /// ICU tailoring rules (16+).
    pub rules: Option<String>,
    /// `collisdeterministic`: false for `deterministic = false` (equality by collation,
    /// not by bytes).
    pub deterministic: bool,
    /// The `COMMENT ON COLLATION` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
}

/// A user-defined cast (`CREATE CAST`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cast {
    /// `format_type` of the source and target types.
    pub source: String,
    /// `format_type` of the target type.
    pub target: String,
    /// `function`, `binary` (WITHOUT FUNCTION) or `inout` (WITH INOUT).
    pub method: String,
    /// The function as `regprocedure` text, for method `function`.
    pub function: Option<String>,
    /// `explicit`, `assignment` or `implicit`.
    pub context: String,
    /// The `COMMENT ON CAST` text (pg_description); `None` without one.
    pub comment: Option<String>,
}

/// An extended statistics object (`CREATE STATISTICS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statistics {
    /// The statistics object's name (its schema may differ from its table's).
    pub name: QualifiedName,
    /// The table it is on (`stxrelid`).
    pub table: QualifiedName,
    /// `pg_get_statisticsobjdef`: the complete `CREATE STATISTICS` statement.
    pub definition: String,
    /// `ALTER STATISTICS ... SET STATISTICS n`, when set.
    pub target: Option<i32>,
    /// The `COMMENT ON STATISTICS` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
}

/// A foreign-data wrapper (`CREATE FOREIGN DATA WRAPPER`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignDataWrapper {
    /// `fdwname`, unquoted; wrappers are not in a schema.
    pub name: String,
    /// `regproc` text of the handler and validator functions.
    pub handler: Option<String>,
    /// `regproc` text of the validator function; `None` without one.
    pub validator: Option<String>,
    /// Raw `key=value` options, sorted.
    pub options: Vec<String>,
    /// The `COMMENT ON FOREIGN DATA WRAPPER` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
}

/// A foreign server (`CREATE SERVER`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignServer {
    /// `srvname`, unquoted; servers are not in a schema.
    pub name: String,
    /// The foreign-data wrapper's name, unquoted.
    pub wrapper: String,
    /// `TYPE '...'` (`srvtype`); `None` when not given.
    pub server_type: Option<String>,
    /// `VERSION '...'` (`srvversion`); `None` when not given.
    pub version: Option<String>,
    /// Raw `key=value` options, sorted.
    pub options: Vec<String>,
    /// The `COMMENT ON SERVER` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
}

/// A foreign table (`CREATE FOREIGN TABLE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignTable {
    /// The foreign table's name.
    pub name: QualifiedName,
    /// The foreign server's name, unquoted.
    pub server: String,
    /// Raw `key=value` options, sorted.
    pub options: Vec<String>,
    /// Inheritance parents, in `inhseqno` order.
    pub inherits: Vec<QualifiedName>,
    /// For a foreign table that is a partition, its parent and bound.
    pub partition_of: Option<PartitionOf>,
    /// In attnum order.
    pub columns: Vec<Column>,
    /// CHECK constraints, by name.
    pub constraints: Vec<Constraint>,
    /// The `COMMENT ON FOREIGN TABLE` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
    /// Raw `aclitem`s (`relacl`), sorted; only filled with `InspectOptions::grants`.
    pub acl: Vec<String>,
}

/// A logical replication publication (`CREATE PUBLICATION`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publication {
    /// `pubname`, unquoted; publications are not in a schema.
    pub name: String,
    /// `puballtables`: `FOR ALL TABLES` (then `tables` and `schemas` are empty).
    pub all_tables: bool,
    /// `schema.table [(columns)] [WHERE (...)]`, quoted, sorted.
    pub tables: Vec<String>,
    /// `FOR TABLES IN SCHEMA` (15+), sorted.
    pub schemas: Vec<String>,
    /// `insert`, `update`, `delete`, `truncate`, in that order.
    pub publish: Vec<String>,
    /// `pubviaroot`: `publish_via_partition_root` (13+; false before).
    pub via_root: bool,
    /// The `COMMENT ON PUBLICATION` text (pg_description); `None` without one.
    pub comment: Option<String>,
    /// The owning role; only filled with `InspectOptions::owners`.
    pub owner: Option<String>,
}
