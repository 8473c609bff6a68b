"""The optional-table guards of retention (relay.store.retention_sql): pure SQL fragments."""

from __future__ import annotations

from relay.store.retention_sql import Guards, guards, prunable_deployments_sql


def test_no_optional_table_no_guard() -> None:
    assert guards({}) == Guards()


def test_an_unsent_outbox_row_keeps_its_deployment_and_delivery() -> None:
    found = guards({"outbox": {"id", "deployment_id", "delivery_id", "sent_at"}})
    assert found.deployments == ("id NOT IN (SELECT deployment_id FROM outbox WHERE "
                                 "deployment_id IS NOT NULL AND sent_at IS NULL)",)
    assert "delivery_id IS NOT NULL AND sent_at IS NULL" in found.deliveries[0]


def test_an_outbox_without_a_sent_column_keeps_everything_it_names() -> None:
    assert guards({"outbox": {"deployment_id"}}).deployments[0].endswith("AND 1 = 1)")


def test_a_quarantine_keeps_what_it_names() -> None:
    found = guards({"quarantines": {"deployment_id"}})
    assert found.deployments == ("id NOT IN (SELECT deployment_id FROM quarantines "
                                 "WHERE deployment_id IS NOT NULL)",)


def test_protected_ids_and_limit_take_numbered_places() -> None:
    sql = prunable_deployments_sql(lambda n: f"${n}", 2, Guards(), count=False)
    assert "created_at < $1" in sql and "id NOT IN ($2, $3)" in sql and sql.endswith("LIMIT $4")
    assert "'queued'" not in sql and "'canceled'" in sql
