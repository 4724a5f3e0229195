//! The repository's own example chain (versions/) is real SQL: every revision upgrades
//! and downgrades on a fresh PostgreSQL database, and the downgrades undo everything.

use retort::RevisionGraph;

use crate::support::{repo_root, TestDb};

const SCHEMA_OBJECTS: &str = "SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' UNION ALL SELECT 'type ' || typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e' UNION ALL SELECT 'function ' || proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1";

#[test]
fn example_chain_upgrades_and_downgrades_on_postgres() {
    let graph = RevisionGraph::load(&repo_root().join("versions")).expect("example chain loads");
    assert!(graph.len() >= 5);
    let db = TestDb::new("example");
    let empty = db.texts(SCHEMA_OBJECTS);
    for &i in graph.topological_order() {
        let r = graph.revision(i);
        let before = db.texts(SCHEMA_OBJECTS);
        db.execute(&r.upgrade.sql)
            .unwrap_or_else(|e| panic!("{} upgrade: {e}", r.path.display()));
        let after = db.texts(SCHEMA_OBJECTS);
        assert_ne!(
            before,
            after,
            "{} upgrade changed nothing",
            r.path.display()
        );
        // Each revision is reversible on its own: down, compare, up again.
        let down = r
            .downgrade
            .as_ref()
            .expect("example revisions are reversible");
        db.execute(&down.sql)
            .unwrap_or_else(|e| panic!("{} downgrade: {e}", r.path.display()));
        assert_eq!(
            before,
            db.texts(SCHEMA_OBJECTS),
            "{} downgrade leaves a difference",
            r.path.display()
        );
        db.execute(&r.upgrade.sql).expect("upgrade again");
    }
    let tables =
        db.texts("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    assert_eq!(tables, ["collections", "datasets", "users"]);
    for &i in graph.topological_order().iter().rev() {
        let r = graph.revision(i);
        db.execute(&r.downgrade.as_ref().expect("reversible").sql)
            .unwrap_or_else(|e| panic!("{} downgrade: {e}", r.path.display()));
    }
    assert_eq!(db.texts(SCHEMA_OBJECTS), empty);
}

#[test]
fn each_test_gets_its_own_database() {
    let a = TestDb::new("iso_a");
    let b = TestDb::new("iso_b");
    assert_ne!(a.name, b.name);
    a.execute("CREATE TABLE only_in_a (id int)")
        .expect("create");
    let in_b = b.texts("SELECT tablename::text FROM pg_tables WHERE tablename = 'only_in_a'");
    assert!(in_b.is_empty());
    let name = a.name.clone();
    drop(a);
    let left = b.texts(&format!(
        "SELECT datname::text FROM pg_database WHERE datname = '{name}'"
    ));
    assert!(left.is_empty(), "{name} was not dropped");
}
