//! The schema diff engine: turns two catalog models into ordered [`Change`]s and renders
//! them as SQL [`Statement`]s, each with the [`Hazard`]s a reviewer must know about.
//!
//! [`diff`] is pure: it compares two [`Schema`] values and never reads files or talks to a
//! database. Ordering is a fixed phase list (a simple first version: a dependency graph
//! can replace it without changing the API), refined
//! by references inside the phases where objects of one kind build on each other:
//!
//! 1. drops of dependents: policies, triggers, views (dependents first), foreign keys,
//!    other constraints, indexes, `BEGIN ATOMIC` functions reading a relation (their
//!    body depends on it) or using a dropped relation's row type, column defaults calling a function that is replaced,
//!    sequence ownership; then functions that must be dropped to be created again (a
//!    changed return type, or a recreated enum in their signature);
//! 2. creations and alterations: schemas, extensions; types, sequences and functions
//!    together, each after the types and functions its definition names (a domain over
//!    a domain, a composite over a composite, a domain check calling a function, a
//!    function taking a domain); tables with parents before their partitions and
//!    inheritance children, columns, constraints (primary/unique/check), indexes, then
//!    foreign keys (they need the unique constraint or index they reference), sequence
//!    ownership, views and materialized views (each after those it reads), their
//!    indexes, `BEGIN ATOMIC` functions that read a relation (PostgreSQL checks such a
//!    body at creation) and functions taking or returning a new relation's row type,
//!    sorted with the views by references, then triggers, policies, comments;
//! 3. drops of what the dependents used to need: tables (inheritance children first; a
//!    partition of a dropped table goes with it), functions, sequences and derived types
//!    (dependents first), enums, collations, extensions, schemas.
//!
//! A `LANGUAGE sql` function with a string body records no dependency in PostgreSQL, so
//! nothing orders it after the tables it reads: a script creating one runs between `SET
//! check_function_bodies = false` and `RESET check_function_bodies`, as pg_dump does.
//!
//! Objects the catalog gives as PostgreSQL's own definitions (`pg_get_constraintdef`,
//! `pg_get_indexdef`, `pg_get_viewdef`, ...) cannot be altered in place here: a changed
//! definition is a drop plus a create. Columns are never dropped and re-added (that loses
//! data, diesel's mistake); they are altered. Kinds the engine does not diff yet yield
//! [`Change::Unsupported`], rendered as a comment with a hazard, so that a difference is
//! never silently lost.

mod cast;
mod order;
mod plan;
mod rename;
mod render;

#[cfg(test)]
mod tests;

use crate::catalog::{
    Column, Constraint, ConstraintKind, EnumType, Extension, Function, FunctionKind, Identity,
    Index, NotNullConstraint, Policy, QualifiedName, Schema, Sequence, SequenceOptions, Table,
    Trigger, View,
};

pub use cast::CastPath;
pub use plan::diff;
pub use rename::{diff_with_renames, rename_hints, Rename, RenameError, RenameKind};
pub use render::{needs_autocommit, render, render_online, to_script, MANUAL_STEP};

/// One SQL statement of a migration, without trailing semicolon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The SQL text; may span lines. A `--` comment when it only informs (an unsupported
    /// change, a note), which [`to_script`] writes without a `;`.
    pub sql: String,
    /// What a reviewer must know before running it; empty for a harmless statement.
    pub hazards: Vec<Hazard>,
}

/// Why a statement deserves a second look; rendered as `-- WARNING:` lines above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hazard {
    /// The category, for code that acts on it ([`needs_autocommit`] looks for
    /// [`HazardKind::EnumValueInTransaction`]).
    pub kind: HazardKind,
    /// One line for humans naming the object, e.g. `drops table public.t and its data`.
    pub message: String,
}

/// The category of a [`Hazard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HazardKind {
    /// Drops data: a table, a column, a type, or a type change that can lose values.
    DataLoss,
    /// A statement existing rows can make fail: a type change or enum recreation whose
    /// cast fails, `SET NOT NULL` on NULLs, `ADD COLUMN ... NOT NULL` without a default.
    CastMayFail,
    /// An identity added to a column that may hold values already: its sequence starts
    /// at its `START` value regardless, so later inserts can collide with existing rows
    /// until it is moved past them (`ALTER COLUMN ... RESTART WITH`).
    IdentityBehindRows,
    /// `ALTER TYPE ... ADD VALUE`: the new label cannot be used in the same transaction.
    EnumValueInTransaction,
    /// Rewrites the whole table under an ACCESS EXCLUSIVE lock (`SET LOGGED`, `SET
    /// ACCESS METHOD`): minutes to hours on a large table.
    Rewrite,
    /// A difference the engine cannot generate SQL for; the migration is incomplete.
    Unsupported,
    /// A statement the user must finish by hand (a type change PostgreSQL has no cast
    /// for): it is written under a `-- retort: manual step:` comment and fails as
    /// generated, so an unedited revision cannot half-apply.
    ManualStep,
}

/// One difference between two schemas, as data; [`render`] turns it into SQL.
///
/// [`QualifiedName`]s and bare names are unquoted; text that is SQL (definitions,
/// defaults, the `name` of whole-handled kinds) is ready to paste, quoted as needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `CREATE SCHEMA`.
    AddSchema {
        /// The schema, unquoted.
        name: String,
    },
    /// `DROP SCHEMA` (no `CASCADE`: its objects are dropped before it).
    DropSchema {
        /// The schema, unquoted.
        name: String,
    },
    /// `CREATE EXTENSION ... WITH SCHEMA ... VERSION ...`.
    AddExtension(Extension),
    /// `ALTER EXTENSION ... UPDATE TO`: the installed version changed.
    AlterExtension {
        /// The extension, unquoted.
        name: String,
        /// The target schema's version.
        version: String,
    },
    /// `DROP EXTENSION`, with the objects it created (a [`HazardKind::DataLoss`]).
    DropExtension {
        /// The extension, unquoted.
        name: String,
    },
    /// `CREATE TYPE ... AS ENUM`.
    AddEnum(EnumType),
    /// `ALTER TYPE ... ADD VALUE`: only for labels inserted while the old order is kept.
    AddEnumValue {
        /// The enum type.
        name: QualifiedName,
        /// The new label, unquoted.
        label: String,
        /// Where it goes among the existing labels.
        position: EnumPosition,
    },
    /// Removed or reordered labels: rename the old type to `old_name`, create the new one,
    /// move the columns over through text. The old type is dropped later by a
    /// [`Change::DropEnum`] of `old_name`, once dropped columns and tables are gone.
    RecreateEnum {
        /// The enum as the target schema defines it.
        to: EnumType,
        /// The name the old type is moved aside to: `NAME__retort_old`, with more `_`
        /// until no type or table of either schema has it.
        old_name: QualifiedName,
        /// The kept columns of the enum type (or of an array of it), to retype.
        columns: Vec<EnumColumn>,
        /// Labels of the old type missing from the new one (rows holding them fail).
        removed: Vec<String>,
    },
    /// `DROP TYPE` of an enum (a [`HazardKind::DataLoss`]).
    DropEnum {
        /// The enum type, or the name a [`Change::RecreateEnum`] moved the old one to.
        name: QualifiedName,
    },
    /// A domain or composite type over a recreated enum, recreated with it: the old
    /// type renamed to `old_name` (dropped later), the type created again (`create`, the
    /// target's definition) over the new enum, its columns retyped through text.
    RecreateOverEnum {
        /// Domain, composite or range type.
        kind: ObjectKind,
        /// The type's name (the same in both schemas).
        name: QualifiedName,
        /// The statements creating the type, as the catalog's dump of the target has them.
        create: Vec<String>,
        /// Where the old type is moved aside to (see [`Change::RecreateEnum::old_name`]).
        old_name: QualifiedName,
        /// The kept columns of this type (or of an array of it), to retype.
        columns: Vec<EnumColumn>,
        /// The enum's labels missing from its new definition (rows holding them fail).
        removed: Vec<String>,
        /// A range type has a multirange type to move aside too (PostgreSQL 14 and later;
        /// assumed when the schema's major is unknown).
        multirange: bool,
    },
    /// `CREATE SEQUENCE` with all its options; its ownership comes later as a
    /// [`Change::SetSequenceOwner`], once the owning table exists.
    AddSequence(Sequence),
    /// `ALTER SEQUENCE` with the clauses that differ; never `RESTART`, the current value
    /// being data.
    AlterSequence {
        /// The sequence.
        name: QualifiedName,
        /// Its options in the starting schema.
        from: SequenceOptions,
        /// Its options in the target schema.
        to: SequenceOptions,
    },
    /// `ALTER SEQUENCE ... OWNED BY table.column` or `OWNED BY NONE`.
    SetSequenceOwner {
        /// The sequence.
        name: QualifiedName,
        /// The owning table and its column (unquoted); `None` for `OWNED BY NONE`.
        owned_by: Option<(QualifiedName, String)>,
    },
    /// `DROP SEQUENCE` (a [`HazardKind::DataLoss`]: its current value goes).
    DropSequence {
        /// The sequence.
        name: QualifiedName,
    },
    /// Creates the table with its columns and non-foreign-key constraints; foreign keys
    /// come later as [`TableChange::AddConstraint`], once every table exists.
    AddTable(Table),
    /// A partition, created with `PARTITION OF` after its parent, like [`Change::AddTable`]
    /// otherwise: its column list says only what differs from `parent_columns` (its
    /// parent's, in the target schema), since PostgreSQL rejects types there.
    AddPartition {
        /// The partition, as the target schema has it.
        table: Table,
        /// Its parent's columns in the target schema.
        parent_columns: Vec<Column>,
    },
    /// `ALTER TABLE` on one table: one statement per change, in order.
    AlterTable {
        /// The table.
        name: QualifiedName,
        /// What changes, in the order the statements run.
        changes: Vec<TableChange>,
    },
    /// `DROP TABLE` (a [`HazardKind::DataLoss`]).
    DropTable {
        /// The table.
        name: QualifiedName,
    },
    /// The index's `CREATE INDEX` as `pg_get_indexdef` prints it, `ON ONLY` made `ON` so
    /// that a partitioned table's index reaches its partitions.
    AddIndex(Index),
    /// `DROP INDEX`; a changed index is dropped and created again.
    DropIndex {
        /// The index (in its table's schema).
        name: QualifiedName,
    },
    /// `CREATE VIEW` of a plain view, then its columns' defaults; materialized views are
    /// [`ObjectKind::MaterializedView`] objects.
    AddView(View),
    /// `DROP VIEW` of a plain view; a changed view is dropped and created again.
    DropView {
        /// The view.
        name: QualifiedName,
    },
    /// The catalog's definition (`CREATE OR REPLACE FUNCTION ...` for functions and
    /// procedures), so it also replaces a changed body in place.
    AddFunction(Function),
    /// `DROP FUNCTION`, `DROP PROCEDURE` or `DROP AGGREGATE`, by name and identity
    /// arguments.
    DropFunction {
        /// The routine.
        name: QualifiedName,
        /// `pg_get_function_identity_arguments`, which picks the overload.
        arguments: String,
        /// Which `DROP` keyword applies.
        kind: FunctionKind,
    },
    /// The trigger's `pg_get_triggerdef`, then `ALTER TABLE ... ENABLE/DISABLE TRIGGER`
    /// unless its enabled state is the default.
    AddTrigger(Trigger),
    /// `DROP TRIGGER ... ON table`.
    DropTrigger {
        /// The table it is on.
        table: QualifiedName,
        /// The trigger, unquoted.
        name: String,
    },
    /// `CREATE POLICY`.
    AddPolicy(Policy),
    /// `DROP POLICY ... ON table`.
    DropPolicy {
        /// The table it is on.
        table: QualifiedName,
        /// The policy, unquoted.
        name: String,
    },
    /// `COMMENT ON ... IS ...`: a comment added, changed or removed.
    SetComment {
        /// What the comment is on.
        target: CommentTarget,
        /// The new text, unquoted; `None` removes the comment (`IS NULL`).
        comment: Option<String>,
    },
    /// An object of a kind handled whole (see [`ObjectKind`]), created with the
    /// statements the catalog's dump shows for it (definition, comments, ...).
    CreateObject {
        /// Which kind of object.
        kind: ObjectKind,
        /// As SQL names it: `public.d`, `(text AS public.t)`, `r ON public.t`.
        name: String,
        /// The statements, each without semicolon.
        statements: Vec<String>,
    },
    /// In-place alterations of such an object (domain checks, composite attributes,
    /// wrapper and server options).
    AlterObject {
        /// Which kind of object.
        kind: ObjectKind,
        /// As SQL names it (see [`Change::CreateObject::name`]).
        name: String,
        /// The alterations, with their hazards.
        statements: Vec<Statement>,
    },
    /// `DROP <kind> <name>` of such an object; dropping a domain, composite or range type
    /// is a [`HazardKind::DataLoss`].
    DropObject {
        /// Which kind of object.
        kind: ObjectKind,
        /// As SQL names it (see [`Change::CreateObject::name`]).
        name: String,
    },
    /// A rename declared with `--rename` (see [`diff_with_renames`]).
    Rename {
        /// The declaration, as `table:public.users=public.people`.
        what: String,
        /// The `ALTER ... RENAME` (and `SET SCHEMA`) statements, without semicolons.
        statements: Vec<String>,
    },
    /// A difference of a kind the engine does not handle yet.
    Unsupported {
        /// What differs, as a noun: `extension`, `column`, `owners or privileges`, ...
        kind: &'static str,
        /// The object, as SQL names it; empty when the difference is not about one object.
        name: String,
        /// What differs and why it is not generated, for the warning.
        detail: String,
    },
}

/// Kinds the engine compares through the catalog's rendering and, when their definition
/// changes, alters in place where PostgreSQL can or else drops and creates again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// `CREATE COLLATION`; never altered, nor recreated while a column or domain uses it
    /// (reported as unsupported instead).
    Collation,
    /// `CREATE DOMAIN`; default, NOT NULL and checks are altered in place, and it is not
    /// recreated while a column uses it.
    Domain,
    /// `CREATE TYPE ... AS (...)`; attributes are altered in place, and it is not
    /// recreated while a column uses it.
    CompositeType,
    /// `CREATE TYPE ... AS RANGE`; never altered, nor recreated while a column uses it.
    RangeType,
    /// `CREATE CAST`; never altered.
    Cast,
    /// `CREATE MATERIALIZED VIEW`; recreated, its rows computed again, when its definition
    /// or a relation it reads changes.
    MaterializedView,
    /// `CREATE STATISTICS`.
    Statistics,
    /// `CREATE RULE`; a changed enabled state is altered in place.
    Rule,
    /// `CREATE EVENT TRIGGER`; a changed enabled state is altered in place.
    EventTrigger,
    /// `CREATE FOREIGN DATA WRAPPER`; handler, validator and options are altered in place.
    ForeignDataWrapper,
    /// `CREATE SERVER`; version and options are altered in place while its wrapper and
    /// type stay.
    ForeignServer,
    /// `CREATE FOREIGN TABLE`.
    ForeignTable,
    /// `CREATE PUBLICATION`; members and `publish` options are altered in place.
    Publication,
}

impl ObjectKind {
    /// The words of `DROP <kind> <name>`.
    pub fn sql(self) -> &'static str {
        match self {
            ObjectKind::Collation => "COLLATION",
            ObjectKind::Domain => "DOMAIN",
            ObjectKind::CompositeType | ObjectKind::RangeType => "TYPE",
            ObjectKind::Cast => "CAST",
            ObjectKind::MaterializedView => "MATERIALIZED VIEW",
            ObjectKind::Statistics => "STATISTICS",
            ObjectKind::Rule => "RULE",
            ObjectKind::EventTrigger => "EVENT TRIGGER",
            ObjectKind::ForeignDataWrapper => "FOREIGN DATA WRAPPER",
            ObjectKind::ForeignServer => "SERVER",
            ObjectKind::ForeignTable => "FOREIGN TABLE",
            ObjectKind::Publication => "PUBLICATION",
        }
    }

    /// For messages.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Collation => "collation",
            ObjectKind::Domain => "domain",
            ObjectKind::CompositeType => "composite type",
            ObjectKind::RangeType => "range type",
            ObjectKind::Cast => "cast",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Statistics => "statistics",
            ObjectKind::Rule => "rule",
            ObjectKind::EventTrigger => "event trigger",
            ObjectKind::ForeignDataWrapper => "foreign data wrapper",
            ObjectKind::ForeignServer => "server",
            ObjectKind::ForeignTable => "foreign table",
            ObjectKind::Publication => "publication",
        }
    }
}

/// Where `ALTER TYPE ... ADD VALUE` puts the new label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnumPosition {
    /// The type had no labels.
    Last,
    /// `BEFORE 'label'`: the existing label (unquoted) that follows the new one.
    Before(String),
    /// `AFTER 'label'`: the existing label (unquoted) that precedes the new one.
    After(String),
}

/// A column moved to a recreated enum type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumColumn {
    /// The column's table.
    pub table: QualifiedName,
    /// The column, unquoted.
    pub column: String,
    /// An array of the enum (`type[]`).
    pub array: bool,
    /// Whether the column has a default, dropped before the type change (it references
    /// the old type).
    pub had_default: bool,
    /// The default set again afterwards, when the new schema keeps it unchanged (a
    /// changed default is set by the column's own alteration).
    pub default: Option<String>,
}

/// One action of an `ALTER TABLE` ([`Change::AlterTable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChange {
    /// `ADD COLUMN` with its type, default, identity or generation and NOT NULL.
    AddColumn(Column),
    /// `DROP COLUMN` (a [`HazardKind::DataLoss`]); a column is never dropped to be added
    /// again.
    DropColumn {
        /// The column, unquoted.
        name: String,
    },
    /// `ALTER COLUMN`.
    AlterColumn {
        /// The column, unquoted.
        name: String,
        /// What changes.
        change: ColumnChange,
    },
    /// `ADD CONSTRAINT name` with its `pg_get_constraintdef` definition.
    AddConstraint(Constraint),
    /// `DROP CONSTRAINT`; a changed constraint is dropped and added again.
    DropConstraint {
        /// The constraint, unquoted.
        name: String,
        /// Its kind in the starting schema.
        kind: ConstraintKind,
    },
    /// `ENABLE ROW LEVEL SECURITY` (true) or `DISABLE`.
    SetRowSecurity(bool),
    /// `FORCE ROW LEVEL SECURITY` (true) or `NO FORCE`.
    SetForceRowSecurity(bool),
    /// `SET LOGGED` (true) or `SET UNLOGGED`.
    SetLogged(bool),
    /// Storage parameters: `SET (k=v, ...)` and `RESET (k, ...)`.
    SetOptions {
        /// `key=value` parameters to set, as `reloptions` holds them.
        set: Vec<String>,
        /// Parameter names to reset to their defaults.
        reset: Vec<String>,
    },
    /// `SET ACCESS METHOD` (PostgreSQL 15+; rewrites the table).
    SetAccessMethod(String),
    /// `REPLICA IDENTITY FULL | NOTHING | USING INDEX i`; `None` is `DEFAULT`.
    SetReplicaIdentity(Option<String>),
    /// `CLUSTER ON i`; `None` is `SET WITHOUT CLUSTER`.
    SetClusterOn(Option<String>),
    /// On the child: `INHERIT parent`.
    Inherit(QualifiedName),
    /// On the child: `NO INHERIT parent`.
    NoInherit(QualifiedName),
    /// On the partitioned table: `ATTACH PARTITION p FOR VALUES ...`.
    AttachPartition {
        /// The table becoming a partition.
        partition: QualifiedName,
        /// Its bound, as `pg_get_expr(relpartbound)` prints it: `FOR VALUES ...` or
        /// `DEFAULT`.
        bound: String,
    },
    /// On the partitioned table: `DETACH PARTITION p`; the partition stays a table.
    DetachPartition {
        /// The partition to detach.
        partition: QualifiedName,
    },
    /// After a `DETACH PARTITION`, on the detached table: the constraints and indexes
    /// cloned from the parent stay behind as the table's own under names PostgreSQL
    /// chose, so every one not listed here (the table's own) is dropped by name at run
    /// time.
    DropDetachedClones {
        /// Constraints the detached table keeps (unquoted names).
        keep_constraints: Vec<String>,
        /// Indexes the detached table keeps (unquoted names, in the table's schema).
        keep_indexes: Vec<String>,
    },
}

/// One action of an `ALTER TABLE ... ALTER COLUMN` ([`TableChange::AlterColumn`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnChange {
    /// `ALTER COLUMN ... TYPE to [COLLATE c] [USING col::to]`.
    SetType {
        /// The type in the starting schema, as `format_type` prints it.
        from: String,
        /// The type in the target schema, as `format_type` prints it.
        to: String,
        /// The column's collation in the target schema, written as `COLLATE`; `None`: the
        /// new type's default.
        collation: Option<String>,
        /// Whether a `USING` cast is written (false only for binary-compatible widenings).
        using: bool,
        /// Whether values can be lost or rejected (anything but a known widening).
        narrowing: bool,
        /// How the values are converted: directly, through another type (an enum
        /// through text), or not at all (a manual step).
        path: CastPath,
    },
    /// `SET DEFAULT expression` (the expression as `pg_get_expr` prints it).
    SetDefault(String),
    /// `DROP DEFAULT`.
    DropDefault,
    /// `SET NOT NULL`, which scans the table and fails on NULLs.
    SetNotNull,
    /// `DROP NOT NULL`.
    DropNotNull,
    /// `ADD CONSTRAINT name NOT NULL col [NO INHERIT] [NOT VALID]` (PostgreSQL 18), for a
    /// NOT NULL that is more than the plain clause.
    AddNotNull(NotNullConstraint),
    /// A NOT NULL constraint renamed, validated, or replaced (18); `None`: the plain one.
    AlterNotNull {
        /// The constraint in the starting schema.
        from: Option<NotNullConstraint>,
        /// The constraint in the target schema.
        to: Option<NotNullConstraint>,
    },
    /// `ADD GENERATED ... AS IDENTITY (...)` on an existing column.
    AddIdentity(Identity),
    /// `DROP IDENTITY`: the identity sequence goes with it.
    DropIdentity,
    /// `SET GENERATED ALWAYS | BY DEFAULT`.
    SetGenerated {
        /// `ALWAYS` (true) or `BY DEFAULT` (false).
        always: bool,
    },
    /// `SET INCREMENT BY ...` and friends on the identity sequence (never `RESTART`).
    SetIdentityOptions {
        /// The identity sequence's options in the starting schema.
        from: SequenceOptions,
        /// The identity sequence's options in the target schema.
        to: SequenceOptions,
    },
    /// `SET STATISTICS n`; `None` restores the default (-1).
    SetStatistics(Option<i32>),
    /// `SET STORAGE PLAIN | EXTERNAL | EXTENDED | MAIN`.
    SetStorage(String),
}

/// The object of a `COMMENT ON`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentTarget {
    /// `SCHEMA name` (unquoted).
    Schema(String),
    /// `TABLE name`.
    Table(QualifiedName),
    /// `COLUMN table.column` (column unquoted).
    Column(QualifiedName, String),
    /// `TYPE name`: an enum (other types are [`CommentTarget::Object`]).
    Type(QualifiedName),
    /// `SEQUENCE name`.
    Sequence(QualifiedName),
    /// `VIEW name` (a plain view).
    View(QualifiedName),
    /// `INDEX name`.
    Index(QualifiedName),
    /// `CONSTRAINT name ON table`: the table, then the constraint (unquoted).
    Constraint(QualifiedName, String),
    /// `FUNCTION`, `PROCEDURE` or `AGGREGATE name(arguments)`: the routine, its identity
    /// arguments and its kind.
    Function(QualifiedName, String, FunctionKind),
    /// `TRIGGER name ON table`: the table, then the trigger (unquoted).
    Trigger(QualifiedName, String),
    /// `POLICY name ON table`: the table, then the policy (unquoted).
    Policy(QualifiedName, String),
    /// Any other target, as the catalog's dump writes it (`DOMAIN public.d`, ...).
    Object(String),
}
