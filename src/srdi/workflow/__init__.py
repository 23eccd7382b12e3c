"""The cultivation cycle for SME authorities (docs/workflow.md): storage (models, db, migrations),
the state machine (states), operations (service), accounts and access (roles), the audit chain
(audit), dashboards, import of published lists (importer), the HTTP router (web) and the bench."""
